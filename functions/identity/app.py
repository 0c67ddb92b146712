"""Identity: sign-in, MFA, tokens, sessions and the caller's own account."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel, Field

from tpm.api.app import create_app, lambda_entry
from tpm.api.context import request_meta, service_context
from tpm.api.models import RequestModel
from tpm.api.responses import NO_CONTENT_DOC, no_content
from tpm.api.views import Page, SessionView, UserView
from tpm.runtime import get_runtime
from tpm.services.account import AccountService
from tpm.services.authentication import Authentication, MfaChallenge, Tokens
from tpm.services.password_reset import confirm_reset, request_reset
from tpm.services.users import accept_invitation

app = create_app("identity")
TAGS = ["identity"]

Slug = Field(
    min_length=1, max_length=40, pattern=r"^[a-z0-9-]+$", description="The practice's sign-in name."
)


class LoginIn(RequestModel):
    practice: str = Slug
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=1024)


class MfaIn(RequestModel):
    practice: str = Slug
    challenge: str = Field(min_length=20, max_length=200)
    code: str | None = Field(default=None, pattern=r"^\d{6}$")
    recovery_code: str | None = Field(default=None, min_length=8, max_length=40)


class RefreshIn(RequestModel):
    practice: str = Slug
    refresh_token: str = Field(min_length=20, max_length=200)


class AcceptInvitationIn(RequestModel):
    practice: str = Slug
    token: str = Field(min_length=20, max_length=200)
    password: str = Field(min_length=1, max_length=1024)


class PasswordResetIn(RequestModel):
    practice: str = Slug
    email: str = Field(min_length=3, max_length=254)


class PasswordResetConfirmIn(RequestModel):
    practice: str = Slug
    token: str = Field(min_length=20, max_length=200)
    new_password: str = Field(min_length=1, max_length=1024)


class AcceptedOut(BaseModel):
    status: str = Field(
        default="accepted",
        description="Always the same answer: whether the address has an account is not told.",
    )


class ReauthIn(RequestModel):
    password: str = Field(min_length=1, max_length=1024)
    code: str = Field(pattern=r"^\d{6}$")


class PasswordIn(RequestModel):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class TotpConfirmIn(RequestModel):
    code: str = Field(pattern=r"^\d{6}$")


class TokensOut(BaseModel):
    token_type: str = "Bearer"  # noqa: S105 - a token scheme, not a secret
    access_token: str
    refresh_token: str
    expires_in: int
    session_id: str
    mfa_enrolment_required: bool


class ChallengeOut(BaseModel):
    mfa_required: bool = True
    challenge: str
    expires_in: int


class PermissionsOut(BaseModel):
    roles: list[str]
    actions: dict[str, list[str]] = Field(
        description="Every action the caller's roles hold, with its scopes (practice, "
        "care_team, supervisees, self). A hint for screens: every call is still checked."
    )


class TotpOut(BaseModel):
    secret: str
    otpauth_uri: str
    qr_svg: str | None


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str]


def _tokens(result: Tokens) -> TokensOut:
    return TokensOut(
        access_token=result.access_token,
        refresh_token=result.refresh_token,
        expires_in=result.expires_in,
        session_id=result.session_id,
        mfa_enrolment_required=result.mfa_enrolment_required,
    )


# ---- public: signing in --------------------------------------------------------------------


@app.post("/v1/auth/login", summary="Sign in with email and password", tags=TAGS)
def login(body: LoginIn) -> TokensOut | ChallengeOut:
    result = Authentication(get_runtime()).login(
        body.practice, body.email, body.password, request_meta(app)
    )
    if isinstance(result, MfaChallenge):
        return ChallengeOut(challenge=result.challenge, expires_in=result.expires_in)
    return _tokens(result)


@app.post("/v1/auth/mfa", summary="Complete sign-in with a TOTP or recovery code", tags=TAGS)
def verify_mfa(body: MfaIn) -> TokensOut:
    result = Authentication(get_runtime()).verify_mfa(
        body.practice, body.challenge, body.code, body.recovery_code, request_meta(app)
    )
    return _tokens(result)


@app.post("/v1/auth/refresh", summary="Exchange a refresh token (rotated on every use)", tags=TAGS)
def refresh(body: RefreshIn) -> TokensOut:
    return _tokens(
        Authentication(get_runtime()).refresh(body.practice, body.refresh_token, request_meta(app))
    )


@app.post(
    "/v1/auth/accept-invitation",
    summary="Set a password and activate an invited account",
    tags=TAGS,
)
def accept(body: AcceptInvitationIn) -> UserView:
    return UserView.of(
        accept_invitation(
            get_runtime(), body.practice, body.token, body.password, request_meta(app)
        )
    )


@app.post(
    "/v1/auth/password-reset",
    summary="Email a password reset link (the same answer for every address)",
    tags=TAGS,
    responses={
        202: {"description": "Accepted", "content": {"application/json": {"model": AcceptedOut}}}
    },
)
def request_password_reset(body: PasswordResetIn) -> Response[str]:
    request_reset(get_runtime(), body.practice, body.email, request_meta(app))
    return Response(
        status_code=202, content_type="application/json", body=AcceptedOut().model_dump_json()
    )


@app.post(
    "/v1/auth/password-reset/confirm",
    summary="Set a new password with a reset link's token (ends every session)",
    tags=TAGS,
    responses=NO_CONTENT_DOC,
)
def confirm_password_reset(body: PasswordResetConfirmIn) -> Response[str]:
    confirm_reset(get_runtime(), body.practice, body.token, body.new_password, request_meta(app))
    return no_content()


@app.get(
    "/v1/auth/jwks.json", summary="Public keys that verify this deployment's tokens", tags=TAGS
)
def jwks() -> Response[dict[str, Any]]:
    identity = get_runtime().identity
    keys = identity.jwks() if hasattr(identity, "jwks") else {"keys": []}
    return Response(status_code=200, content_type="application/json", body=keys)


# ---- signed in ---------------------------------------------------------------------------


@app.post("/v1/auth/logout", summary="End the current session", tags=TAGS, responses=NO_CONTENT_DOC)
def logout() -> Response[str]:
    ctx = service_context(app, enrolment_route=True)
    Authentication(ctx.runtime).logout(ctx.principal)
    return no_content()


@app.post(
    "/v1/auth/reauthenticate",
    summary="Step up: password and a fresh TOTP code",
    tags=TAGS,
    responses=NO_CONTENT_DOC,
)
def reauthenticate(body: ReauthIn) -> Response[str]:
    ctx = service_context(app)
    Authentication(ctx.runtime).reauthenticate(ctx.principal, body.password, body.code)
    return no_content()


@app.get("/v1/me", summary="The signed-in user", tags=TAGS)
def me() -> UserView:
    return UserView.of(AccountService(service_context(app, enrolment_route=True)).me())


@app.get(
    "/v1/me/permissions",
    summary="My effective permissions (from the permission table)",
    tags=TAGS,
)
def my_permissions() -> PermissionsOut:
    result = AccountService(service_context(app, enrolment_route=True)).permissions()
    return PermissionsOut(roles=result.roles, actions=result.actions)


@app.get("/v1/me/sessions", summary="My sessions", tags=TAGS)
def my_sessions() -> Page[SessionView]:
    ctx = service_context(app, enrolment_route=True)
    sessions = AccountService(ctx).sessions()
    now = ctx.now()
    return Page[SessionView](
        items=[SessionView.of(s, now, ctx.principal.session_id) for s in sessions]
    )


@app.post(
    "/v1/me/sessions/<sessionId>/end",
    summary="End one of my sessions",
    tags=TAGS,
    responses=NO_CONTENT_DOC,
)
def end_my_session(sessionId: str) -> Response[str]:  # noqa: N803 - path parameter
    AccountService(service_context(app, enrolment_route=True)).end_session(sessionId)
    return no_content()


@app.post("/v1/me/mfa/totp", summary="Start TOTP enrolment (QR code)", tags=TAGS)
def start_totp() -> TotpOut:
    result = AccountService(service_context(app, enrolment_route=True)).start_totp()
    return TotpOut(secret=result.secret, otpauth_uri=result.otpauth_uri, qr_svg=result.qr_svg)


@app.post(
    "/v1/me/mfa/totp/confirm",
    summary="Confirm TOTP enrolment; returns recovery codes once",
    tags=TAGS,
)
def confirm_totp(body: TotpConfirmIn) -> RecoveryCodesOut:
    codes = AccountService(service_context(app, enrolment_route=True)).confirm_totp(body.code)
    return RecoveryCodesOut(recovery_codes=codes)


@app.post(
    "/v1/me/password",
    summary="Change my password (ends my other sessions)",
    tags=TAGS,
    responses=NO_CONTENT_DOC,
)
def change_password(body: PasswordIn) -> Response[str]:
    AccountService(service_context(app, enrolment_route=True)).change_password(
        body.current_password, body.new_password
    )
    return no_content()


lambda_handler = lambda_entry(app, "identity")

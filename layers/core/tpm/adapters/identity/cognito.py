"""Amazon Cognito user pool: token verification and the admin calls the services need.

Bearer token. The API accepts Cognito **ID tokens** (`api_token_use = "id"`). API
Gateway's Cognito authorizer in template.yaml validates ID tokens when a method has no
OAuth scopes, and the ID token carries what we need natively: `aud` (the app client),
the immutable custom attributes and `cognito:groups`. Access tokens verify too
(`verifier("access")`, audience from `client_id`) when a pre-token-generation V2 trigger
adds `practice_id` (and `user_id`) to them.

Claim mapping (`claims_from_cognito`):
- practice_id: `practice_id` (added by a trigger) or the `custom:practice_id` attribute.
- sub (our user id): `user_id` / `custom:user_id`, else Cognito's own `sub`.
- patient_id: `patient_id` / `custom:patient_id`, for patient accounts.
- roles: `cognito:groups` whose names are `Role` values; other groups grant nothing.
- sid: `origin_jti` — the id of the refresh-token lineage, stable across refreshes and
  ended by sign-out/revocation; `jti` when absent.
- amr: always "pwd"; "mfa" when the pool requires MFA for everyone (`pool_mfa_required`),
  or when the token carries `tpm_mfa: "true"`. Cognito puts no `amr` in user-pool tokens,
  and the pool's MFA is OPTIONAL (it cannot require MFA per role), so the fact comes from
  a pre-token-generation trigger: it sets `tpm_mfa` when the user has SOFTWARE_TOKEN_MFA
  enabled. That is sound because Cognito then challenges every sign-in for a second
  factor — provided device remembering stays off (a remembered device skips MFA).
  Only a trigger can add a top-level claim; a user can write at most `custom:*`
  attributes, which is why `custom:tpm_mfa` is never read.

The custom attributes must be immutable (`Mutable: false`) and not in the app client's
WriteAttributes, or a user could move themselves into another practice.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from tpm.adapters.identity.jwks import HttpJwks
from tpm.clock import Clock
from tpm.errors import (
    AlreadyExists,
    DependencyUnavailable,
    NotFound,
    RateLimited,
    Unauthenticated,
    ValidationFailed,
)
from tpm.security.principal import Role
from tpm.security.tokens import JwksProvider, TokenClaims, TokenUse, TokenVerifier

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient

COGNITO_ALGORITHMS: Final = ("RS256",)
_ROLE_VALUES: Final = frozenset(r.value for r in Role)
_TRUE: Final = frozenset({"true", "1"})

_SIGN_IN_FAILED: Final = frozenset(
    {
        "NotAuthorizedException",
        "UserNotFoundException",
        "UserNotConfirmedException",
        "PasswordResetRequiredException",
        "CodeMismatchException",
        "ExpiredCodeException",
    }
)
_THROTTLED: Final = frozenset(
    {"TooManyRequestsException", "LimitExceededException", "TooManyFailedAttemptsException"}
)


def claims_from_cognito(
    payload: Mapping[str, Any], *, pool_mfa_required: bool = False
) -> TokenClaims:
    groups = payload.get("cognito:groups") or []
    roles = [Role(g) for g in groups if isinstance(g, str) and g in _ROLE_VALUES]
    mfa = pool_mfa_required or str(payload.get("tpm_mfa", "")).lower() in _TRUE
    return TokenClaims(
        sub=payload.get("user_id") or payload.get("custom:user_id") or payload["sub"],
        practice_id=payload.get("practice_id") or payload["custom:practice_id"],
        roles=tuple(roles),
        sid=payload.get("origin_jti") or payload["jti"],
        token_use=payload["token_use"],
        auth_time=payload["auth_time"],
        amr=("pwd", "mfa") if mfa else ("pwd",),
        patient_id=payload.get("patient_id") or payload.get("custom:patient_id"),
        iat=payload["iat"],
        exp=payload["exp"],
        iss=payload["iss"],
        aud=payload.get("aud") or payload["client_id"],
        jti=payload["jti"],
    )


@dataclass(frozen=True)
class CognitoAuthResult:
    """Tokens, or a challenge (e.g. SOFTWARE_TOKEN_MFA) to answer with `session`."""

    id_token: str | None = None
    access_token: str | None = None
    refresh_token: str | None = None
    expires_in: int | None = None
    challenge: str | None = None
    session: str | None = None


class CognitoIdentity:
    name = "cognito"
    # Sign-in happens at Cognito; our session row opens on the token's first use.
    sessions_start_at_provider = True
    api_token_use: TokenUse = "id"  # noqa: S105 - a token kind, not a secret

    def __init__(
        self,
        user_pool_id: str,
        client_id: str,
        *,
        region: str,
        client: CognitoIdentityProviderClient | None = None,
        jwks: JwksProvider | None = None,
        client_secret: str | None = None,
        pool_mfa_required: bool = False,
        clock: Clock | None = None,
    ) -> None:
        if not (user_pool_id and client_id and region):
            raise ValueError("a user pool id, app client id and region are required")
        self._pool_id = user_pool_id
        self._client_id = client_id
        self._region = region
        self._client = client
        self._jwks = jwks
        self._client_secret = client_secret
        self._pool_mfa_required = pool_mfa_required
        self._clock = clock

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{self._region}.amazonaws.com/{self._pool_id}"

    @property
    def client(self) -> CognitoIdentityProviderClient:
        # Created on first use so a handler that only verifies tokens never pays for boto3.
        if self._client is None:
            import boto3

            self._client = boto3.client("cognito-idp", region_name=self._region)
        return self._client

    def verifier(self, token_use: TokenUse | None = None) -> TokenVerifier:
        use = token_use or self.api_token_use
        if self._jwks is None:
            self._jwks = HttpJwks(f"{self.issuer}/.well-known/jwks.json", clock=self._clock)
        pool_mfa = self._pool_mfa_required
        return TokenVerifier(
            self._jwks,
            issuer=self.issuer,
            audience=self._client_id,
            allowed_algs=COGNITO_ALGORITHMS,
            expected_token_use=use,
            # Cognito access tokens name the app client in `client_id`, not `aud`.
            audience_claim="client_id" if use == "access" else "aud",
            claims_mapper=lambda p: claims_from_cognito(p, pool_mfa_required=pool_mfa),
            clock=self._clock,
        )

    # ---- sign-in ---------------------------------------------------------------------

    def initiate_auth(self, email: str, password: str) -> CognitoAuthResult:
        """Server-side password sign-in (ADMIN_USER_PASSWORD_AUTH)."""
        params = {"USERNAME": email, "PASSWORD": password}
        if self._client_secret:
            params["SECRET_HASH"] = _secret_hash(self._client_secret, email, self._client_id)
        with _cognito_errors():
            out = self.client.admin_initiate_auth(
                UserPoolId=self._pool_id,
                ClientId=self._client_id,
                AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                AuthParameters=params,
            )
        return _auth_result(out)

    def respond_to_mfa(self, email: str, session: str, code: str) -> CognitoAuthResult:
        responses = {"USERNAME": email, "SOFTWARE_TOKEN_MFA_CODE": code}
        if self._client_secret:
            responses["SECRET_HASH"] = _secret_hash(self._client_secret, email, self._client_id)
        with _cognito_errors():
            out = self.client.admin_respond_to_auth_challenge(
                UserPoolId=self._pool_id,
                ClientId=self._client_id,
                ChallengeName="SOFTWARE_TOKEN_MFA",
                Session=session,
                ChallengeResponses=responses,
            )
        return _auth_result(out)

    # ---- administration --------------------------------------------------------------

    def admin_create_user(
        self,
        email: str,
        *,
        user_id: str,
        practice_id: str,
        patient_id: str | None = None,
        temporary_password: str | None = None,
        send_invitation: bool = False,
    ) -> str:
        """Create the user with its immutable tenancy attributes; returns Cognito's sub."""
        attributes = [
            {"Name": "email", "Value": email},
            {"Name": "email_verified", "Value": "true"},
            {"Name": "custom:user_id", "Value": user_id},
            {"Name": "custom:practice_id", "Value": practice_id},
        ]
        if patient_id is not None:
            attributes.append({"Name": "custom:patient_id", "Value": patient_id})
        request: dict[str, Any] = {
            "UserPoolId": self._pool_id,
            "Username": email,
            "UserAttributes": attributes,
        }
        if not send_invitation:
            request["MessageAction"] = "SUPPRESS"
        if temporary_password is not None:
            request["TemporaryPassword"] = temporary_password
        with _cognito_errors():
            out = self.client.admin_create_user(**request)
        for attribute in out["User"].get("Attributes", []):
            if attribute["Name"] == "sub":
                return attribute["Value"]
        return out["User"]["Username"]

    def admin_set_password(self, email: str, password: str, *, permanent: bool = True) -> None:
        with _cognito_errors():
            self.client.admin_set_user_password(
                UserPoolId=self._pool_id, Username=email, Password=password, Permanent=permanent
            )

    def admin_add_user_to_group(self, email: str, role: Role) -> None:
        with _cognito_errors():
            self.client.admin_add_user_to_group(
                UserPoolId=self._pool_id, Username=email, GroupName=Role(role).value
            )

    def admin_remove_user_from_group(self, email: str, role: Role) -> None:
        with _cognito_errors():
            self.client.admin_remove_user_from_group(
                UserPoolId=self._pool_id, Username=email, GroupName=Role(role).value
            )

    def admin_disable_user(self, email: str) -> None:
        """Blocks new sign-ins and refreshes; pair with global sign-out and session revocation."""
        with _cognito_errors():
            self.client.admin_disable_user(UserPoolId=self._pool_id, Username=email)

    def admin_user_global_sign_out(self, email: str) -> None:
        """Revokes the user's refresh tokens; issued ID tokens live until they expire."""
        with _cognito_errors():
            self.client.admin_user_global_sign_out(UserPoolId=self._pool_id, Username=email)


def _secret_hash(client_secret: str, username: str, client_id: str) -> str:
    """SECRET_HASH for app clients that have a secret (server-side clients only)."""
    message = (username + client_id).encode()
    digest = hmac.new(client_secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _auth_result(out: Mapping[str, Any]) -> CognitoAuthResult:
    tokens = out.get("AuthenticationResult")
    if tokens:
        return CognitoAuthResult(
            id_token=tokens.get("IdToken"),
            access_token=tokens.get("AccessToken"),
            refresh_token=tokens.get("RefreshToken"),
            expires_in=tokens.get("ExpiresIn"),
        )
    return CognitoAuthResult(challenge=out.get("ChallengeName"), session=out.get("Session"))


@contextmanager
def _cognito_errors() -> Iterator[None]:
    """Cognito errors as our typed errors; messages never echo emails or passwords."""
    try:
        yield
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in _SIGN_IN_FAILED:
            raise Unauthenticated() from None
        if code in _THROTTLED:
            raise RateLimited() from None
        if code == "UsernameExistsException":
            raise AlreadyExists() from None
        if code in {"InvalidPasswordException", "InvalidParameterException"}:
            raise ValidationFailed() from None
        if code == "ResourceNotFoundException":
            raise NotFound() from None
        raise DependencyUnavailable() from None
    except BotoCoreError:
        raise DependencyUnavailable() from None

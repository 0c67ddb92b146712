"""Amazon Cognito user pool: token verification and the pool's admin API, which the
sign-in services use so that /v1/auth/* behave the same as with the local provider.

Sign-in goes through our API only. The app client has a secret (read once with
DescribeUserPoolClient, never in configuration) and allows only ADMIN_USER_PASSWORD_AUTH
(IAM-authorised AdminInitiateAuth) and refresh: nobody can sign in at Cognito directly,
and no user ever holds a Cognito access token (the API keeps it, sealed, for TOTP
enrolment). So only our API changes a user's MFA setting or groups.

Usernames are our user ids (`usr_...`): the same person may have accounts in two
practices, and email is an ordinary attribute.

Bearer token. The API accepts Cognito **ID tokens** (`api_token_use = "id"`): API
Gateway's Cognito authorizer validates ID tokens when a method has no OAuth scopes, and
the ID token carries the immutable custom attributes and `cognito:groups`.

Claim mapping (`claims_from_cognito`):
- practice_id: `custom:practice_id` (or a `practice_id` claim).
- sub (our user id): `custom:user_id` / `cognito:username`, else Cognito's own `sub`.
- patient_id: `custom:patient_id`, for patient accounts.
- roles: `cognito:groups` whose names are `Role` values; other groups grant nothing.
- sid: `origin_jti`, the refresh-token lineage: stable across refreshes.
- amr: "pwd", plus "mfa" when the token's groups include `mfa` (MFA_GROUP) or the pool
  requires MFA for everyone. The API puts a user in `mfa` when it enables their software
  token MFA, and from then on Cognito challenges every sign-in for a code (device
  remembering is off), so a signed token in that group came from a sign-in that passed
  the second factor. `custom:*` attributes are never read for it.

The custom attributes must be immutable (`Mutable: false`) and not in the app client's
WriteAttributes, or a user could move themselves into another practice.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from tpm.adapters.identity import ProviderTokens, SignInContext
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
MFA_GROUP: Final = "mfa"
_ROLE_VALUES: Final = frozenset(r.value for r in Role)

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
    mfa = pool_mfa_required or MFA_GROUP in groups
    return TokenClaims(
        sub=payload.get("custom:user_id") or payload.get("cognito:username") or payload["sub"],
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


CognitoAuthResult = ProviderTokens  # the provider-neutral name is ProviderTokens


class CognitoIdentity:
    name = "cognito"
    credentials_at_provider = True  # passwords and TOTP factors live in the pool
    api_token_use: TokenUse = "id"  # noqa: S105 - a token kind, not a secret

    def __init__(
        self,
        user_pool_id: str,
        client_id: str,
        *,
        region: str,
        client: CognitoIdentityProviderClient | None = None,
        jwks: JwksProvider | None = None,
        jwks_url: str | None = None,
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
        self._jwks_url = jwks_url
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
            url = self._jwks_url or f"{self.issuer}/.well-known/jwks.json"
            self._jwks = HttpJwks(url, clock=self._clock)
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

    @property
    def pool_id(self) -> str:
        return self._pool_id

    def _secret(self) -> str | None:
        """The app client's secret, read once from the pool (IAM: DescribeUserPoolClient)."""
        if self._client_secret is None:
            with _cognito_errors():
                described = self.client.describe_user_pool_client(
                    UserPoolId=self._pool_id, ClientId=self._client_id
                )
            self._client_secret = str(described["UserPoolClient"].get("ClientSecret") or "")
        return self._client_secret or None

    def _with_secret(self, params: dict[str, str], username: str) -> dict[str, str]:
        secret = self._secret()
        if secret:
            params["SECRET_HASH"] = _secret_hash(secret, username, self._client_id)
        return params

    # ---- sign-in (HostedCredentials) -------------------------------------------------

    def initiate_auth(
        self, username: str, password: str, context: SignInContext | None = None
    ) -> ProviderTokens:
        """Password step (AdminInitiateAuth, ADMIN_USER_PASSWORD_AUTH): tokens, or the
        SOFTWARE_TOKEN_MFA challenge for a user with MFA on."""
        params = self._with_secret({"USERNAME": username, "PASSWORD": password}, username)
        request: dict[str, Any] = {
            "UserPoolId": self._pool_id,
            "ClientId": self._client_id,
            "AuthFlow": "ADMIN_USER_PASSWORD_AUTH",
            "AuthParameters": params,
        }
        if context is not None:
            request["ContextData"] = _context_data(context)
        with _cognito_errors():
            out = self.client.admin_initiate_auth(**request)
        return _auth_result(out)

    def respond_to_mfa(
        self, username: str, session: str, code: str, context: SignInContext | None = None
    ) -> ProviderTokens:
        responses = self._with_secret(
            {"USERNAME": username, "SOFTWARE_TOKEN_MFA_CODE": code}, username
        )
        request: dict[str, Any] = {
            "UserPoolId": self._pool_id,
            "ClientId": self._client_id,
            "ChallengeName": "SOFTWARE_TOKEN_MFA",
            "Session": session,
            "ChallengeResponses": responses,
        }
        if context is not None:
            request["ContextData"] = _context_data(context)
        with _cognito_errors():
            out = self.client.admin_respond_to_auth_challenge(**request)
        return _auth_result(out)

    def refresh(self, username: str, refresh_token: str) -> ProviderTokens:
        params = self._with_secret({"REFRESH_TOKEN": refresh_token}, username)
        with _cognito_errors():
            out = self.client.admin_initiate_auth(
                UserPoolId=self._pool_id,
                ClientId=self._client_id,
                AuthFlow="REFRESH_TOKEN_AUTH",
                AuthParameters=params,
            )
        result = _auth_result(out)
        # Cognito does not rotate refresh tokens on this flow: the same one stays valid.
        return ProviderTokens(
            id_token=result.id_token,
            access_token=result.access_token,
            refresh_token=result.refresh_token or refresh_token,
            expires_in=result.expires_in,
        )

    def associate_software_token(self, access_token: str) -> str:
        """Starts TOTP enrolment; returns the shared secret (base32) for the authenticator."""
        with _cognito_errors():
            out = self.client.associate_software_token(AccessToken=access_token)
        return str(out["SecretCode"])

    def verify_software_token(self, access_token: str, code: str) -> bool:
        try:
            with _cognito_errors():
                out = self.client.verify_software_token(
                    AccessToken=access_token, UserCode=code, FriendlyDeviceName="tpm"
                )
        except (Unauthenticated, ValidationFailed):
            return False
        return out.get("Status") == "SUCCESS"

    def set_software_token_mfa(self, username: str, *, enabled: bool) -> None:
        """MFA on (preferred) or off for the user, and the `mfa` group that says so."""
        with _cognito_errors():
            self.client.admin_set_user_mfa_preference(
                UserPoolId=self._pool_id,
                Username=username,
                SoftwareTokenMfaSettings={"Enabled": enabled, "PreferredMfa": enabled},
            )
        if enabled:
            self.admin_add_to_group(username, MFA_GROUP)
        else:
            self.admin_remove_from_group(username, MFA_GROUP)

    # ---- accounts (HostedCredentials) ------------------------------------------------

    def create_account(
        self,
        username: str,
        *,
        email: str,
        practice_id: str,
        patient_id: str | None,
        password: str,
        roles: Iterable[Role],
    ) -> None:
        """The pool's user for an accepted invitation: immutable tenancy attributes, the
        chosen password (permanent), one group per role. Safe to repeat."""
        with contextlib.suppress(AlreadyExists):  # a retry after a later step failed
            self.admin_create_user(
                username,
                email=email,
                user_id=username,
                practice_id=practice_id,
                patient_id=patient_id,
            )
        self.set_password(username, password)
        for role in roles:
            self.admin_add_to_group(username, Role(role).value)

    def set_password(self, username: str, password: str) -> None:
        with _cognito_errors():
            self.client.admin_set_user_password(
                UserPoolId=self._pool_id, Username=username, Password=password, Permanent=True
            )

    def change_groups(self, username: str, *, add: Iterable[str], remove: Iterable[str]) -> None:
        for group in add:
            self.admin_add_to_group(username, group)
        for group in remove:
            self.admin_remove_from_group(username, group)

    def disable(self, username: str) -> None:
        """No new sign-in or refresh, and every refresh token revoked at once."""
        self.admin_disable_user(username)
        self.admin_user_global_sign_out(username)

    def enable(self, username: str) -> None:
        """Reactivation: sign-in works again (refresh tokens revoked at deactivation stay
        revoked; the person signs in afresh)."""
        with _cognito_errors():
            self.client.admin_enable_user(UserPoolId=self._pool_id, Username=username)

    def sign_out_everywhere(self, username: str) -> None:
        self.admin_user_global_sign_out(username)

    # ---- administration ----------------------------------------------------------------

    def admin_create_user(
        self,
        username: str,
        *,
        email: str,
        user_id: str,
        practice_id: str,
        patient_id: str | None = None,
        temporary_password: str | None = None,
    ) -> str:
        """Creates the user with its immutable tenancy attributes (no Cognito message: the
        practice's own invitation brought them here); returns Cognito's sub."""
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
            "Username": username,
            "UserAttributes": attributes,
            "MessageAction": "SUPPRESS",
        }
        if temporary_password is not None:
            request["TemporaryPassword"] = temporary_password
        with _cognito_errors():
            out = self.client.admin_create_user(**request)
        for attribute in out["User"].get("Attributes", []):
            if attribute["Name"] == "sub":
                return str(attribute["Value"])
        return str(out["User"]["Username"])

    def admin_set_password(self, username: str, password: str) -> None:
        self.set_password(username, password)

    def admin_add_user_to_group(self, username: str, role: Role) -> None:
        self.admin_add_to_group(username, Role(role).value)

    def admin_add_to_group(self, username: str, group: str) -> None:
        with _cognito_errors():
            self.client.admin_add_user_to_group(
                UserPoolId=self._pool_id, Username=username, GroupName=group
            )

    def admin_remove_from_group(self, username: str, group: str) -> None:
        with _cognito_errors():
            self.client.admin_remove_user_from_group(
                UserPoolId=self._pool_id, Username=username, GroupName=group
            )

    def admin_disable_user(self, username: str) -> None:
        with _cognito_errors():
            self.client.admin_disable_user(UserPoolId=self._pool_id, Username=username)

    def admin_user_global_sign_out(self, username: str) -> None:
        """Revokes the user's refresh tokens; issued ID tokens live until they expire (our
        session rows end those at once)."""
        with _cognito_errors():
            self.client.admin_user_global_sign_out(UserPoolId=self._pool_id, Username=username)


def _context_data(context: SignInContext) -> dict[str, Any]:
    return {
        "IpAddress": context.source_ip or "0.0.0.0",  # noqa: S104 - an address, not a bind
        "ServerName": context.server_name,
        "ServerPath": context.server_path,
        "HttpHeaders": [{"headerName": "User-Agent", "headerValue": context.user_agent[:512]}],
    }


def _secret_hash(client_secret: str, username: str, client_id: str) -> str:
    """SECRET_HASH for app clients that have a secret (server-side clients only)."""
    message = (username + client_id).encode()
    digest = hmac.new(client_secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _auth_result(out: Mapping[str, Any]) -> ProviderTokens:
    tokens = out.get("AuthenticationResult")
    if tokens:
        return ProviderTokens(
            id_token=tokens.get("IdToken"),
            access_token=tokens.get("AccessToken"),
            refresh_token=tokens.get("RefreshToken"),
            expires_in=tokens.get("ExpiresIn"),
        )
    return ProviderTokens(challenge=out.get("ChallengeName"), session=out.get("Session"))


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
        if code == "InvalidPasswordException":
            raise ValidationFailed(
                fields=[{"path": "body.password", "type": "provider_policy"}]
            ) from None
        if code in {"InvalidParameterException", "EnableSoftwareTokenMFAException"}:
            raise ValidationFailed() from None
        if code == "ResourceNotFoundException":
            raise NotFound() from None
        raise DependencyUnavailable() from None
    except BotoCoreError:
        raise DependencyUnavailable() from None

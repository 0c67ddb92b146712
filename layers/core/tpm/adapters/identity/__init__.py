"""Identity providers: the local one (our own keys) and Amazon Cognito.

Both hand out a `TokenVerifier` over the same `TokenClaims`, so services and handlers
never know which provider signed a token. The sign-in routes are the same for both
(tpm.services.authentication): locally our own password hashes and TOTP secrets check the
credentials; under Cognito (`credentials_at_provider`) the same services ask the user
pool through `HostedCredentials`, the pool's admin API.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, cast

from tpm.security.principal import Role
from tpm.security.tokens import TokenUse, TokenVerifier


@dataclass(frozen=True)
class ProviderTokens:
    """What the provider answers a sign-in step with: tokens, or a challenge to answer with
    `session` (SOFTWARE_TOKEN_MFA)."""

    id_token: str | None = None
    access_token: str | None = None
    refresh_token: str | None = None
    expires_in: int | None = None
    challenge: str | None = None
    session: str | None = None


@dataclass(frozen=True)
class SignInContext:
    """Passed to the provider's risk checks (Cognito threat protection) as the user's own
    request, not our function's."""

    source_ip: str
    user_agent: str
    server_name: str = "tpm-api"
    server_path: str = "/v1/auth/login"


class HostedCredentials(Protocol):
    """Passwords and TOTP factors kept by the provider (Cognito), used by the services."""

    def initiate_auth(
        self, username: str, password: str, context: SignInContext | None = None
    ) -> ProviderTokens: ...

    def respond_to_mfa(
        self, username: str, session: str, code: str, context: SignInContext | None = None
    ) -> ProviderTokens: ...

    def refresh(self, username: str, refresh_token: str) -> ProviderTokens: ...

    def associate_software_token(self, access_token: str) -> str: ...

    def verify_software_token(self, access_token: str, code: str) -> bool: ...

    def set_software_token_mfa(self, username: str, *, enabled: bool) -> None: ...

    def create_account(
        self,
        username: str,
        *,
        email: str,
        practice_id: str,
        patient_id: str | None,
        password: str,
        roles: Iterable[Role],
    ) -> None: ...

    def set_password(self, username: str, password: str) -> None: ...

    def change_groups(
        self, username: str, *, add: Iterable[str], remove: Iterable[str]
    ) -> None: ...

    def disable(self, username: str) -> None: ...

    def enable(self, username: str) -> None: ...

    def sign_out_everywhere(self, username: str) -> None:
        """Revokes every refresh token the provider issued to the user."""


def hosted_credentials(identity: IdentityProvider) -> HostedCredentials | None:
    """The provider's credential API when it keeps credentials (Cognito), else None."""
    if getattr(identity, "credentials_at_provider", False):
        return cast(HostedCredentials, identity)
    return None


class IdentityProvider(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def credentials_at_provider(self) -> bool:
        """True when passwords and TOTP factors live with the provider (HostedCredentials)."""

    @property
    def api_token_use(self) -> TokenUse:
        """The token kind a client presents as its bearer token to the API."""

    def verifier(self, token_use: TokenUse | None = None) -> TokenVerifier:
        """A verifier for `token_use` (default: `api_token_use`)."""

"""Identity providers: the local one (our own keys) and Amazon Cognito.

Both hand out a `TokenVerifier` over the same `TokenClaims`, so services and handlers
never know which provider signed a token. Password sign-in, sessions and MFA enrolment
are the sessions service's concern; the adapters only sign/verify tokens and (Cognito)
wrap the user-pool admin calls.
"""

from __future__ import annotations

from typing import Protocol

from tpm.security.tokens import TokenUse, TokenVerifier


class IdentityProvider(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def sessions_start_at_provider(self) -> bool:
        """True when sign-in happens at the provider and our session opens on first use."""

    @property
    def api_token_use(self) -> TokenUse:
        """The token kind a client presents as its bearer token to the API."""

    def verifier(self, token_use: TokenUse | None = None) -> TokenVerifier:
        """A verifier for `token_use` (default: `api_token_use`)."""

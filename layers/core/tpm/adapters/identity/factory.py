"""Choose the identity provider from TPM_IDENTITY."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from tpm.adapters.identity import IdentityProvider
from tpm.clock import Clock


def open_identity(url: str, *, issuer: str, audience: str, clock: Clock) -> IdentityProvider:
    if url.startswith("local:///"):
        from tpm.adapters.identity.local import LocalIdentity

        return LocalIdentity(
            Path(url.removeprefix("local://")), issuer=issuer, audience=audience, clock=clock
        )
    if url.startswith("cognito://"):
        from tpm.adapters.identity.cognito import CognitoIdentity

        parsed = urlparse(url)
        query = parse_qs(parsed.query)
        region = query.get("region", [os.environ.get("AWS_REGION", "")])[0]
        # Where boto3 is pointed elsewhere (AWS_ENDPOINT_URL[_COGNITO_IDP]: an emulator),
        # the pool's keys are published there too; http only on loopback (HttpJwks).
        endpoint = os.environ.get("AWS_ENDPOINT_URL_COGNITO_IDP") or os.environ.get(
            "AWS_ENDPOINT_URL"
        )
        jwks_url = (
            f"{endpoint.rstrip('/')}/{parsed.netloc}/.well-known/jwks.json" if endpoint else None
        )
        return CognitoIdentity(
            parsed.netloc,
            query.get("client_id", [""])[0],
            region=region,
            jwks_url=jwks_url,
            pool_mfa_required=query.get("mfa", ["optional"])[0] == "required",
            clock=clock,
        )
    raise ValueError("unsupported identity url")

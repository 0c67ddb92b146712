"""The local stand-in for API Gateway's token authorizer: the runtime's own verifier."""

from __future__ import annotations

from tpm.errors import TpmError
from tpm.runtime import get_runtime


def verify_bearer(token: str) -> bool:
    if not token:
        return False
    try:
        get_runtime().verifier().verify(token)
    except TpmError:
        return False
    return True

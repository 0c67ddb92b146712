"""Provider errors -> transient (retry later) or permanent (do not retry)."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from tpm.adapters.notify import DeliveryRejected
from tpm.errors import DependencyUnavailable

# Error codes that mean "this message/recipient will never work"; anything else is
# treated as transient so a reminder is retried rather than silently lost.
PERMANENT = frozenset(
    {
        "MessageRejected",
        "InvalidParameter",
        "InvalidParameterValue",
        "BadRequestException",
        "AccountSuspendedException",
        "MailFromDomainNotVerifiedException",
        "NotFoundException",
        "OptedOut",
        "OptedOutException",
    }
)


def translate(exc: Exception) -> Exception:
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in PERMANENT:
            return DeliveryRejected(provider_code=code)
        return DependencyUnavailable(provider_code=code or "unknown")
    if isinstance(exc, BotoCoreError):
        return DependencyUnavailable(provider_code=type(exc).__name__)
    return exc

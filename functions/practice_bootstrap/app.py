"""The first practice of a deployment and its owner's invitation, invoked by the operator's
`tpm practice create --stack` (lambda:InvokeFunction on this function is all the operator
needs: this function's role, on the PHI path, does the encryption). No API route.

Answers {"practice_id", "slug", "practice_created", "owner_user_id", "owner_status",
"invitation_token", "invitation_expires_at"} or {"error": {"code", "message", "details"}};
errors are answered, not raised, so nothing the caller sent is echoed in a stack trace.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError

from tpm.api.models import RequestModel
from tpm.clock import to_rfc3339
from tpm.errors import TpmError
from tpm.observability import get_logger
from tpm.runtime import get_runtime
from tpm.services.practice_bootstrap import SLUG_PATTERN, bootstrap_practice

ACTOR = "practice-bootstrap"


class BootstrapIn(RequestModel):
    slug: str = Field(pattern=SLUG_PATTERN)
    name: str = Field(min_length=1, max_length=120)
    timezone: str = Field(min_length=1, max_length=64)
    owner_email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    owner_name: str = Field(min_length=1, max_length=120)


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request_id = str(getattr(context, "aws_request_id", "") or "")
    try:
        request = BootstrapIn.model_validate(event)
    except ValidationError as exc:
        fields = [
            {"path": ".".join(str(p) for p in e["loc"]), "type": e["type"]} for e in exc.errors()
        ]
        return _error("validation_failed", "The request is not valid.", {"fields": fields})
    try:
        result = bootstrap_practice(
            get_runtime(),
            slug=request.slug,
            name=request.name,
            timezone=request.timezone,
            owner_email=request.owner_email,
            owner_name=request.owner_name,
            actor=ACTOR,
            request_id=request_id,
        )
    except TpmError as exc:
        get_logger("practice_bootstrap").info("bootstrap refused", extra={"code": exc.code})
        return _error(exc.code, exc.message, exc.details)
    expires = result.invitation_expires_at
    return {
        "practice_id": result.practice_id,
        "slug": result.slug,
        "practice_created": result.practice_created,
        "owner_user_id": result.owner_user_id,
        "owner_status": result.owner_status,
        "invitation_token": result.invitation_token,
        "invitation_expires_at": to_rfc3339(expires) if expires else None,
    }


def _error(code: str, message: str, details: dict[str, Any]) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}

"""Domain errors -> HTTP. The only module that knows both.

Every 4xx/5xx body has one shape:
  {"error": {"code": str, "message": str, "details": {...}}, "request_id": str}
Bodies never echo submitted values (they may be PHI): validation errors carry field paths
and error types only.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response

from tpm import errors

_STATUS: list[tuple[type[errors.TpmError], int]] = [
    (errors.MalformedJson, 400),
    (errors.BadRequest, 400),
    (errors.Unauthenticated, 401),
    (errors.Forbidden, 403),
    (errors.NotFound, 404),
    (errors.MethodNotAllowed, 405),
    (errors.Conflict, 409),
    (errors.PayloadTooLarge, 413),
    (errors.UnsupportedMediaType, 415),
    (errors.ValidationFailed, 422),
    (errors.PreconditionRequired, 428),
    (errors.RateLimited, 429),
    (errors.DependencyUnavailable, 503),
]

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
}


def status_for(exc: errors.TpmError) -> int:
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return 500


def error_payload(
    code: str, message: str, request_id: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "error": {"code": code, "message": message, "details": details or {}},
        "request_id": request_id,
    }


def error_response(
    status: int,
    code: str,
    message: str,
    request_id: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[str]:
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps(error_payload(code, message, request_id, details)),
        headers={**SECURITY_HEADERS, **(headers or {})},
    )


def from_exception(exc: errors.TpmError, request_id: str) -> Response[str]:
    status = status_for(exc)
    if status >= 500 and not isinstance(exc, errors.DependencyUnavailable):
        # Internal faults never describe themselves to the caller.
        return internal_error(request_id)
    headers = {}
    if isinstance(exc, errors.RateLimited) and "retry_after" in exc.details:
        headers["Retry-After"] = str(int(exc.details["retry_after"]))
    if isinstance(exc, errors.MethodNotAllowed) and "allow" in exc.details:
        headers["Allow"] = ", ".join(exc.details["allow"])
    if isinstance(exc, errors.DependencyUnavailable):
        headers["Retry-After"] = "1"
    return error_response(status, exc.code, exc.message, request_id, exc.details, headers)


def internal_error(request_id: str) -> Response[str]:
    return error_response(
        500, "internal_error", "Something went wrong on our side; it has been logged.", request_id
    )


def validation_details(raw_errors: list[dict[str, Any]]) -> dict[str, Any]:
    """Pydantic/Powertools errors -> field paths and types; the `input` is dropped."""
    fields = []
    for err in raw_errors:
        loc = [str(part) for part in err.get("loc", ())]
        fields.append(
            {
                "path": ".".join(loc),
                "type": str(err.get("type", "invalid")),
                "message": _safe_message(err),
            }
        )
    return {"fields": fields}


def _safe_message(err: dict[str, Any]) -> str:
    # Pydantic messages describe the rule, but a few (e.g. "Input should be 'x'") quote
    # the rule's own literals; none quote the input. Cap the length anyway.
    message = str(err.get("msg", "invalid value"))
    value = err.get("input")
    if isinstance(value, str) and value and value in message:
        return "invalid value"
    return message[:200]

"""Build a function's resolver and Lambda entry point the same way everywhere.

A function's app.py does:

    app = create_app("patients")
    @app.get("/v1/patients/<patientId>", summary=..., tags=[...])
    def get_patient(patientId: str) -> PatientOut: ...
    lambda_handler = lambda_entry(app, "patients")
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.typing import LambdaContext

from tpm import errors
from tpm.api.errors import (
    SECURITY_HEADERS,
    error_response,
    from_exception,
    internal_error,
    validation_details,
)
from tpm.api.routes import route_error
from tpm.config import get_settings
from tpm.observability import get_logger

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]
_BODY_METHODS = {"POST", "PUT", "PATCH"}


def create_app(service: str) -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(enable_validation=True)
    logger = get_logger(service)

    def request_id() -> str:
        return str(app.current_event.request_context.request_id or "")

    @app.exception_handler(errors.TpmError)
    def _domain_error(exc: errors.TpmError) -> Response[str]:
        if exc.code in ("store_misuse", "integrity_error"):
            logger.error("request failed", extra={"error_code": exc.code})
        return from_exception(exc, request_id())

    @app.exception_handler(RequestValidationError)
    def _validation_error(exc: RequestValidationError) -> Response[str]:
        raw = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in raw):
            return from_exception(errors.MalformedJson(), request_id())
        return error_response(
            422,
            errors.ValidationFailed.code,
            errors.ValidationFailed.message,
            request_id(),
            validation_details(raw),
        )

    @app.not_found
    def _not_found(_: Exception) -> Response[str]:
        event = app.current_event
        return from_exception(route_error(event.http_method, event.path), request_id())

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response[str]:
        log_internal_error(service, exc)
        return internal_error(request_id())

    return app


def log_internal_error(service: str, exc: BaseException) -> None:
    """Log where it failed, never what it failed on: exception messages can hold PHI
    (a pydantic ValidationError quotes its input), so only the type and frames are kept."""
    frames = [
        f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}:{f.name}"
        for f in traceback.extract_tb(exc.__traceback__)
    ]
    get_logger(service).error(
        "unhandled error", extra={"error_type": type(exc).__name__, "frames": frames[-12:]}
    )


def lambda_entry(
    app: APIGatewayRestResolver, service: str, *, max_body_bytes: int | None = None
) -> Handler:
    """The Lambda handler: size/content-type/JSON checks API Gateway does not do for us,
    then the resolver. One summary log line per request (ids, status, timings, store calls).

    `max_body_bytes` raises the practice-wide body limit for a function that takes larger
    bodies (document uploads); it is part of the function's code, so it holds in AWS and
    under `tpm dev` alike."""
    logger = get_logger(service)
    settings = get_settings()
    body_limit = max_body_bytes or settings.max_body_bytes

    @logger.inject_lambda_context(log_event=False)
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        started = time.perf_counter()
        rid = str((event.get("requestContext") or {}).get("requestId") or "")
        # The API Gateway request id is the correlation id (set directly: a JMESPath
        # lookup per request costs more than the rest of the wrapper).
        logger.set_correlation_id(rid)
        early = precheck(event, body_limit)
        if early is not None:
            result = to_proxy_result(early)
        else:
            try:
                result = app.resolve(event, context)
            except Exception as exc:  # the resolver's own handlers failed: still no leak
                log_internal_error(service, exc)
                result = to_proxy_result(internal_error(rid))
        add_default_headers(result)
        logger.info(
            "request",
            extra={
                "method": event.get("httpMethod"),
                "resource": event.get("resource"),
                "status": result.get("statusCode"),
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
        return result

    return handler


def precheck(event: dict[str, Any], max_body_bytes: int) -> Response[str] | None:
    """413 / 415 / 400 before any parsing."""
    rid = str((event.get("requestContext") or {}).get("requestId") or "")
    body = event.get("body")
    if body is None or body == "":
        return None
    size = len(body.encode("utf-8")) if isinstance(body, str) else len(body)
    if event.get("isBase64Encoded"):
        size = size * 3 // 4
    if size > max_body_bytes:
        return from_exception(errors.PayloadTooLarge(limit_bytes=max_body_bytes), rid)
    method = str(event.get("httpMethod", "")).upper()
    if method not in _BODY_METHODS:
        return None
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    content_type = str(headers.get("content-type", "")).split(";")[0].strip().lower()
    if content_type != "application/json":
        return from_exception(errors.UnsupportedMediaType(), rid)
    if event.get("isBase64Encoded"):
        return None
    try:
        json.loads(body)
    except ValueError:
        return from_exception(errors.MalformedJson(), rid)
    return None


def add_default_headers(result: dict[str, Any]) -> None:
    """Security headers on every response, whichever header style the result uses."""
    if "multiValueHeaders" in result:
        multi = result["multiValueHeaders"] or {}
        present = {k.lower() for k in multi}
        for name, value in SECURITY_HEADERS.items():
            if name.lower() not in present:
                multi[name] = [value]
        result["multiValueHeaders"] = multi
        return
    headers = result.get("headers") or {}
    present = {k.lower() for k in headers}
    for name, value in SECURITY_HEADERS.items():
        if name.lower() not in present:
            headers[name] = value
    result["headers"] = headers


def to_proxy_result(response: Response[str]) -> dict[str, Any]:
    """A Response made outside the resolver, as an API Gateway proxy result."""
    headers = {k: v if isinstance(v, str) else ", ".join(v) for k, v in response.headers.items()}
    if response.content_type:
        headers.setdefault("Content-Type", response.content_type)
    return {
        "statusCode": response.status_code,
        "headers": headers,
        "body": response.body,
        "isBase64Encoded": False,
    }

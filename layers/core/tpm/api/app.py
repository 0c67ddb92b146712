"""Build a function's resolver and Lambda entry point the same way everywhere.

A function's app.py does:

    app = create_app("patients")
    @app.get("/v1/patients/<patientId>", summary=..., tags=[...])
    def get_patient(patientId: str) -> PatientOut: ...
    lambda_handler = lambda_entry(app, "patients")
"""

from __future__ import annotations

import base64
import binascii
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
_FORM_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}
MAX_JSON_DEPTH = 64  # arrays/objects; deeper is 400 (no RecursionError reaches a handler)


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
    app: APIGatewayRestResolver,
    service: str,
    *,
    max_body_bytes: int | None = None,
    form_resources: frozenset[str] = frozenset(),
    text_json_resources: frozenset[str] = frozenset(),
) -> Handler:
    """The Lambda handler: size/content-type/JSON checks API Gateway does not do for us,
    then the resolver. One summary log line per request (ids, status, timings, store calls).

    `max_body_bytes` raises the practice-wide body limit for a function that takes larger
    bodies (document uploads); it is part of the function's code, so it holds in AWS and
    under `tpm dev` alike. `form_resources`: the few routes (API Gateway resource paths)
    that also take an HTML form's body (`application/x-www-form-urlencoded`), which they
    do not read — the one-click unsubscribe of RFC 8058. `text_json_resources`: routes whose
    caller sends JSON labelled `text/plain` (SNS HTTPS deliveries); checked as JSON."""
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
        early = precheck(event, body_limit, form_resources, text_json_resources)
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


def precheck(
    event: dict[str, Any],
    max_body_bytes: int,
    form_resources: frozenset[str] = frozenset(),
    text_json_resources: frozenset[str] = frozenset(),
) -> Response[str] | None:
    """413 / 415 / 400 before any parsing. A body that passes is UTF-8 JSON within the
    depth limit, and the event carries it as text (never base64) for the resolver."""
    rid = str((event.get("requestContext") or {}).get("requestId") or "")
    body = event.get("body")
    if body is None or body == "":
        return None
    size = len(body.encode("utf-8", "surrogatepass")) if isinstance(body, str) else len(body)
    if event.get("isBase64Encoded"):
        size = size * 3 // 4
    if size > max_body_bytes:
        return from_exception(errors.PayloadTooLarge(limit_bytes=max_body_bytes), rid)
    method = str(event.get("httpMethod", "")).upper()
    if method not in _BODY_METHODS:
        return None
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    media_type, _, params = str(headers.get("content-type", "")).partition(";")
    form = media_type.strip().lower() in _FORM_TYPES
    if form and event.get("resource") in form_resources:
        event["body"], event["isBase64Encoded"] = None, False  # never read
        return None
    json_types = {"application/json"}
    if event.get("resource") in text_json_resources:
        json_types.add("text/plain")
    if media_type.strip().lower() not in json_types:
        return from_exception(errors.UnsupportedMediaType(), rid)
    try:
        text = body_text(body, bool(event.get("isBase64Encoded")), params)
        parse_json(text)
    except errors.MalformedJson as exc:
        return from_exception(exc, rid)
    event["body"], event["isBase64Encoded"] = text, False
    if media_type.strip().lower() == "text/plain":  # checked as JSON above: say so
        _relabel_json(event)
    return None


def _relabel_json(event: dict[str, Any]) -> None:
    for name in list(event.get("headers") or {}):
        if name.lower() == "content-type":
            event["headers"][name] = "application/json"
    for name in list(event.get("multiValueHeaders") or {}):
        if name.lower() == "content-type":
            event["multiValueHeaders"][name] = ["application/json"]


def body_text(body: str | bytes, is_base64: bool, content_type_params: str) -> str:
    """The body as text: JSON is UTF-8 (RFC 8259), so any other declared charset, bytes
    that are not UTF-8, or text holding lone surrogates is malformed."""
    for param in content_type_params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            raise errors.MalformedJson("The request body must be UTF-8 JSON.")
    try:
        raw = base64.b64decode(body, validate=True) if is_base64 else body
        if isinstance(raw, bytes):
            return raw.decode("utf-8")
        raw.encode("utf-8")  # lone surrogates cannot be UTF-8
    except (ValueError, binascii.Error):  # UnicodeError is a ValueError
        raise errors.MalformedJson("The request body must be UTF-8 JSON.") from None
    return raw


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(text: str) -> Any:
    """Strict JSON: no NaN/Infinity, at most MAX_JSON_DEPTH nested arrays/objects, and
    no string (key or value) that is not valid Unicode."""
    try:
        value = json.loads(text, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        raise errors.MalformedJson() from None
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise errors.MalformedJson(
                    f"The request body nests deeper than {MAX_JSON_DEPTH} levels."
                )
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, child in items:
                if isinstance(key, str):
                    _check_text(key)
                stack.append((child, depth + 1))
        elif isinstance(node, str):
            _check_text(node)
    return value


def _check_text(value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise errors.MalformedJson("The request body must be UTF-8 JSON.") from None


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

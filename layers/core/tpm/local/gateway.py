"""The local API Gateway: template.yaml's Api events -> the same handlers, REST proxy events.

Routes are never listed in Python: they are read from the template, matched most-specific
first like API Gateway, and each request becomes the event API Gateway would send.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tpm.api.errors import SECURITY_HEADERS
from tpm.local.functions import load_handler
from tpm.local.lambda_context import LocalLambdaContext
from tpm.local.template import ApiRoute, FunctionSpec, api_routes, functions, load_template

API_GATEWAY_MAX_BODY = 10 * 1024 * 1024  # REST API payload limit
STAGE = "local"


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    headers: list[tuple[str, str]]
    query: list[tuple[str, str]]
    body: bytes
    source_ip: str = "127.0.0.1"


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


Authorizer = Callable[[str], bool]


def has_bearer(token: str) -> bool:
    return bool(token)


class LocalGateway:
    """`authorizer` plays API Gateway's Cognito authorizer for non-public routes: it gets
    the bearer token and says whether it verifies (default: only that one is present).
    Like the real one, it answers 401 before the function runs."""

    def __init__(
        self, root: Path, template_file: str = "template.yaml", authorizer: Authorizer | None = None
    ) -> None:
        self.root = root
        self.authorizer = authorizer or has_bearer
        self.template = load_template(root / template_file)
        self.functions: dict[str, FunctionSpec] = {
            f.logical_id: f for f in functions(self.template)
        }
        self.routes: list[ApiRoute] = api_routes(self.template)
        # Same resource, several methods: an exact method beats ANY. Compiled once.
        self._table = [
            (route, route.pattern)
            for route in sorted(self.routes, key=lambda r: (r.specificity, r.method == "ANY"))
        ]
        self._handlers: dict[str, Callable[[dict[str, Any], Any], Any]] = {}
        # Lambda gives an instance one event at a time; handlers keep per-request state
        # (the resolver's current event), so each function serves one request at a time.
        self._locks = {logical_id: threading.Lock() for logical_id in self.functions}

    def handler(self, logical_id: str) -> Callable[[dict[str, Any], Any], Any]:
        if logical_id not in self._handlers:
            self._handlers[logical_id] = load_handler(self.functions[logical_id], self.root)
        return self._handlers[logical_id]

    def locked_handler(self, logical_id: str) -> Callable[[dict[str, Any], Any], Any]:
        """The function's handler, invoked one event at a time (as one Lambda instance)."""
        handler, lock = self.handler(logical_id), self._locks[logical_id]

        def invoke(event: dict[str, Any], context: Any) -> Any:
            with lock:
                return handler(event, context)

        return invoke

    def load_all(self) -> None:
        """Import every handler now (startup), so the first request is not a cold start."""
        for logical_id in self.functions:
            self.handler(logical_id)

    def match(self, method: str, path: str) -> tuple[ApiRoute, dict[str, str]] | None:
        for route, pattern in self._table:
            found = pattern.match(path)
            if found and route.method in (method, "ANY"):
                return route, found.groupdict()
        return None

    def dispatch(self, request: HttpRequest) -> HttpResponse:
        if len(request.body) > API_GATEWAY_MAX_BODY:
            return _gateway_error(413, "payload_too_large", "The request body is too large.")
        matched = self.match(request.method.upper(), request.path)
        if matched is None:
            # Only reachable if the template has no catch-all route.
            return _gateway_error(404, "not_found", "The resource does not exist.")
        route, params = matched
        if not route.public and not self.authorizer(_bearer(request.headers)):
            return _gateway_error(401, "unauthenticated", "Authentication is required.")
        event = build_event(request, route, params)
        spec = self.functions[route.function]
        context = LocalLambdaContext(function_name=spec.logical_id)
        result = self.locked_handler(route.function)(event, context)
        return to_http_response(result)


def build_event(request: HttpRequest, route: ApiRoute, params: dict[str, str]) -> dict[str, Any]:
    multi_headers: dict[str, list[str]] = {}
    for name, value in request.headers:
        multi_headers.setdefault(name, []).append(value)
    multi_query: dict[str, list[str]] = {}
    for name, value in request.query:
        multi_query.setdefault(name, []).append(value)
    body: str | None = None
    is_b64 = False
    if request.body:
        try:
            body = request.body.decode("utf-8")
        except UnicodeDecodeError:
            body, is_b64 = base64.b64encode(request.body).decode(), True
    headers = {k: v[-1] for k, v in multi_headers.items()}
    now = time.time()
    return {
        "resource": route.path,
        "path": request.path,
        "httpMethod": request.method.upper(),
        "headers": headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": params or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "resourceId": "local",
            "resourcePath": route.path,
            "httpMethod": request.method.upper(),
            "path": f"/{STAGE}{request.path}",
            "stage": STAGE,
            "protocol": "HTTP/1.1",
            "domainName": headers.get("host", "127.0.0.1"),
            "requestId": str(uuid.uuid4()),
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "requestTimeEpoch": int(now * 1000),
            "identity": {
                "sourceIp": request.source_ip,
                "userAgent": headers.get("user-agent", headers.get("User-Agent", "")),
            },
        },
        "body": body,
        "isBase64Encoded": is_b64,
    }


def to_http_response(result: dict[str, Any]) -> HttpResponse:
    headers: list[tuple[str, str]] = []
    for name, value in (result.get("headers") or {}).items():
        headers.append((name, str(value)))
    single = {n.lower() for n, _ in headers}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        if name.lower() in single:
            continue
        headers.extend((name, str(v)) for v in values)
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode("utf-8")
    return HttpResponse(status=int(result.get("statusCode", 502)), headers=headers, body=body)


def _bearer(headers: list[tuple[str, str]]) -> str:
    for name, value in headers:
        if name.lower() == "authorization":
            scheme, _, token = value.partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return ""


def _gateway_error(status: int, code: str, message: str) -> HttpResponse:
    """The gateway's own answer (API Gateway's GatewayResponses in AWS): same shape and
    the same security headers as a function's."""
    payload = {
        "error": {"code": code, "message": message, "details": {}},
        "request_id": str(uuid.uuid4()),
    }
    headers = [("Content-Type", "application/json"), *SECURITY_HEADERS.items()]
    return HttpResponse(status=status, headers=headers, body=json.dumps(payload).encode())

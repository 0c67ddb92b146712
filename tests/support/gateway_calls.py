"""One way for tests to call the API through the local gateway: JSON body, bearer token,
a fixed user agent, query parameters, and a chosen source address."""

from __future__ import annotations

import json
from typing import Any

from tpm.local.gateway import HttpRequest, HttpResponse, LocalGateway


def call_gateway(
    gateway: LocalGateway,
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: Any = None,
    query: list[tuple[str, str]] | None = None,
    user_agent: str = "pytest",
    source_ip: str = "127.0.0.1",
) -> HttpResponse:
    headers = [("user-agent", user_agent)]
    raw = b""
    if body is not None:
        headers.append(("content-type", "application/json"))
        raw = json.dumps(body).encode()
    if token:
        headers.append(("authorization", f"Bearer {token}"))
    return gateway.dispatch(HttpRequest(method, path, headers, query or [], raw, source_ip))

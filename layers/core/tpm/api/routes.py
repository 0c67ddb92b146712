"""The published route table (from the committed OpenAPI document), used where a function
must tell "no such route" (404) from "no such method here" (405) — API Gateway itself
cannot, so its catch-all `/{proxy+}` route lands in the platform function."""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

from tpm.errors import MethodNotAllowed, NotFound

OPENAPI_RESOURCE = "openapi.json"  # tpm/api/openapi.json -> ../../../../schemas/openapi.json
_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


@cache
def openapi_document() -> dict[str, Any]:
    text = resources.files("tpm.api").joinpath(OPENAPI_RESOURCE).read_text(encoding="utf-8")
    doc: dict[str, Any] = json.loads(text)
    return doc


@cache
def _compiled() -> list[tuple[re.Pattern[str], frozenset[str]]]:
    table = []
    for path, operations in openapi_document().get("paths", {}).items():
        # OpenAPI writes {param}; both segment kinds match one segment.
        regex = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path))
        methods = frozenset(m.upper() for m in operations if m in _METHODS)
        table.append((re.compile(f"^{regex}$"), methods))
    return table


def route_error(method: str, path: str) -> NotFound | MethodNotAllowed:
    """The error for a request that matched no route."""
    allowed: set[str] = set()
    for pattern, methods in _compiled():
        if pattern.match(path):
            allowed |= methods
    if allowed and method.upper() not in allowed:
        return MethodNotAllowed(allow=sorted(allowed))
    return NotFound()

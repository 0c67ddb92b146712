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
    """(pattern, methods) per documented path, most specific first: like API Gateway, a
    literal segment beats a {param} at the same position, so /v1/patients/search is its
    own resource and not also /v1/patients/{patientId}."""
    table = []
    paths = openapi_document().get("paths", {})
    for path in sorted(paths, key=_specificity):
        # OpenAPI writes {param}; both segment kinds match one segment.
        regex = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path))
        methods = frozenset(m.upper() for m in paths[path] if m in _METHODS)
        table.append((re.compile(f"^{regex}$"), methods))
    return table


def _specificity(path: str) -> tuple[int, ...]:
    return tuple(1 if s.startswith("{") else 0 for s in path.strip("/").split("/"))


def route_error(method: str, path: str) -> NotFound | MethodNotAllowed:
    """The error for a request that matched no route: 405 with the methods of the one
    resource the path names, or 404."""
    for pattern, methods in _compiled():
        if pattern.fullmatch(path):
            if method.upper() not in methods:
                return MethodNotAllowed(allow=sorted(methods))
            break
    return NotFound()

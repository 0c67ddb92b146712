"""Build the one OpenAPI document from every function's resolver (as template.yaml lists
them). `tpm openapi --write` commits it to schemas/openapi.json; a test fails when stale."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

from tpm import __version__
from tpm.api.idempotency import idempotent
from tpm.api.models import LOCAL_TIME_PATTERN
from tpm.local.functions import load_module
from tpm.local.template import functions, load_template

TITLE = "tpm API"
DESCRIPTION = (
    "Therapy practice management. Every route is under /v1; the practice is taken from the "
    "verified token, never from the path or body. Errors share one shape: "
    '{"error": {"code", "message", "details"}, "request_id"}.'
)


def build_document(root: Path) -> dict[str, Any]:
    merge = OpenAPIMerge(
        title=TITLE,
        version=__version__,
        description=DESCRIPTION,
        security_schemes={"bearer": HTTPBearer(bearerFormat="JWT")},
        security=[{"bearer": []}],
        on_conflict="error",
    )
    specs = functions(load_template(root / "template.yaml"))
    models: dict[str, tuple[str, str]] = {}
    idempotent_ops: list[tuple[str, str]] = []
    for spec in specs:
        if not spec.routes:
            continue
        module = load_module(spec, root)
        app = getattr(module, "app", None)
        if app is None:
            continue
        idempotent_ops += idempotent_operations(app)
        schema = app.get_openapi_schema(title=TITLE, version=__version__)
        _check_model_names(spec.logical_id, schema, models)
        merge.add_schema(schema)
    doc: dict[str, Any] = json.loads(merge.get_openapi_json_schema())
    _use_our_error_shape(doc)
    _times_of_day_without_offset(doc)
    for path, method in idempotent_ops:
        operation = doc["paths"][path][method]
        operation.setdefault("parameters", []).append(IDEMPOTENCY_PARAMETER)
    # Whether a route is public is decided in template.yaml (Auth: Authorizer: NONE); say
    # so explicitly in the document (an empty requirement overrides the global bearer one).
    for route in (r for spec in specs for r in spec.routes if r.public):
        operation = doc.get("paths", {}).get(route.path, {}).get(route.method.lower())
        if operation is not None:
            operation["security"] = []
    return doc


IDEMPOTENCY_PARAMETER: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "Retry safely: the same key and request within 24 hours returns the first answer "
        "(with `Idempotent-Replayed: true`); the same key with another request is 422 "
        "`idempotency_key_reused`. Printable ASCII, 1-255 characters; per practice and user."
    ),
    "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"},
}


def idempotent_operations(app: Any) -> list[tuple[str, str]]:
    """(OpenAPI path, method) of every route that opted in to `Idempotency-Key`."""
    found = []
    for route in app._static_routes + app._dynamic_routes:
        if idempotent in route.middlewares:
            path = re.sub(r"<(\w+)>", r"{\1}", route.path)
            found.append((path, route.method.lower()))
    return found


def _times_of_day_without_offset(node: Any) -> None:
    """OpenAPI's `format: time` is RFC 3339's full-time, which needs an offset; tpm's
    times of day are wall-clock times (`09:00:00`, in a zone named elsewhere). Every one
    is documented by its pattern instead, including those in domain models that views
    embed (practice settings), so the document never promises an offset it will not get."""
    if isinstance(node, dict):
        if node.get("type") == "string" and node.get("format") == "time":
            del node["format"]
            node["pattern"] = LOCAL_TIME_PATTERN
        for value in node.values():
            _times_of_day_without_offset(value)
    elif isinstance(node, list):
        for value in node:
            _times_of_day_without_offset(value)


def _check_model_names(function: str, schema: Any, models: dict[str, tuple[str, str]]) -> None:
    """Merging keeps one component per name, so two functions' different models with one
    name would silently document one of them with the other's schema. Refuse instead."""
    components = schema.components.schemas if schema.components else None
    for name, model in (components or {}).items():
        text = json.dumps(
            model.model_dump(mode="json", by_alias=True, exclude_none=True), sort_keys=True
        )
        first = models.setdefault(name, (function, text))
        if first[1] != text:
            raise ValueError(
                f"model name {name!r} means different schemas in {first[0]} and {function};"
                " rename one"
            )


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error", "request_id"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "description": "Stable code; see docs/api-errors.md"},
                "message": {"type": "string"},
                "details": {"type": "object", "description": "Field paths, versions, limits"},
            },
        },
        "request_id": {"type": "string"},
    },
}


def _use_our_error_shape(doc: dict[str, Any]) -> None:
    """Every error, validation included, has tpm's one shape (not Powertools' default)."""
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Error"] = ERROR_SCHEMA
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    for operations in doc.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if "204" in responses:  # no body, whatever the handler's return annotation says
                responses["204"].pop("content", None)
            if "422" in responses:
                responses["422"] = {"description": "Validation failed", **error}
            for code, response in responses.items():
                # A 4xx a route declares for its description (403 "not signed by SNS")
                # still has the error body, not the handler's return annotation.
                if code.startswith("4") and "application/json" in response.get("content", {}):
                    response["content"] = error["content"]
            responses["4XX"] = {"description": "Client error (see docs/api-errors.md)", **error}

"""The OpenAPI document matches what is served, in the places a fuzzer found drift:
204 routes, colliding model names, local times, newline paths, and 405's Allow."""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from pydantic import BaseModel

from tpm.local.functions import load_module
from tpm.local.gateway import HttpRequest, LocalGateway
from tpm.local.openapi import _check_model_names
from tpm.local.server import create_asgi_app
from tpm.local.template import functions, load_template


@pytest.fixture(scope="module")
def document(project_root: Path) -> dict[str, Any]:
    return json.loads((project_root / "schemas" / "openapi.json").read_text())


def routes(root: Path) -> list[tuple[str, str, Any]]:
    found = []
    for spec in functions(load_template(root / "template.yaml")):
        app = getattr(load_module(spec, root), "app", None) if spec.routes else None
        for route in (app._static_routes + app._dynamic_routes) if app else []:
            path = route.openapi_path if hasattr(route, "openapi_path") else route.path
            found.append((route.method.lower(), str(path), route.func))
    return found


def test_routes_that_answer_204_are_documented_as_204_without_a_body(
    project_root: Path, document: dict[str, Any]
) -> None:
    checked = 0
    for method, path, func in routes(project_root):
        if "return no_content()" not in inspect.getsource(func):
            continue
        openapi_path = path.replace("<", "{").replace(">", "}")
        responses = document["paths"][openapi_path][method]["responses"]
        assert "204" in responses, (method, path)
        assert "200" not in responses, (method, path)
        assert "content" not in responses["204"], (method, path)
        checked += 1
    assert checked >= 10


def test_audit_verify_is_documented_with_its_own_schema(document: dict[str, Any]) -> None:
    schema = document["paths"]["/v1/audit/verify"]["post"]["responses"]["200"]["content"]
    ref = schema["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    properties = document["components"]["schemas"][ref]["properties"]
    assert {"ok", "events_checked", "problems"} <= set(properties)


def test_two_functions_cannot_document_different_models_under_one_name() -> None:
    def app_with(model: type[BaseModel]) -> Any:
        app = APIGatewayRestResolver(enable_validation=True)

        def handler(body: Any) -> Any:
            return body

        handler.__annotations__ = {"body": model, "return": model}
        app.post("/x")(handler)
        return app.get_openapi_schema(title="t", version="1")

    class VerifyOut(BaseModel):
        ok: bool

    first = app_with(VerifyOut)

    class VerifyOut(BaseModel):  # type: ignore[no-redef]
        valid: bool
        versions: list[int]

    seen: dict[str, tuple[str, str]] = {}
    _check_model_names("AuditFunction", first, seen)
    _check_model_names("AuditFunction2", first, seen)  # the same model twice is fine
    with pytest.raises(ValueError, match="VerifyOut"):
        _check_model_names("NotesFunction", app_with(VerifyOut), seen)


def test_times_of_day_are_documented_as_served_without_an_offset(
    document: dict[str, Any],
) -> None:
    def walk(node: Any) -> list[str]:
        if isinstance(node, dict):
            return [node.get("format", "")] + [f for v in node.values() for f in walk(v)]
        if isinstance(node, list):
            return [f for v in node for f in walk(v)]
        return []

    assert "time" not in walk(document)
    weekly = document["components"]["schemas"]["WeeklyRuleView"]["properties"]["start"]
    assert weekly["pattern"] == r"^\d{2}:\d{2}(:\d{2})?$"


def test_a_resource_with_literal_segment_is_not_merged_with_its_param_sibling(
    project_root: Path,
) -> None:
    gateway = LocalGateway(project_root)
    response = gateway.dispatch(HttpRequest("OPTIONS", "/v1/patients/search", [], [], b""))
    assert response.status == 405
    assert dict(response.headers)["Allow"] == "POST"
    response = gateway.dispatch(HttpRequest("DELETE", "/v1/patients/pat_x", [], [], b""))
    assert dict(response.headers)["Allow"] == "GET, PATCH"


def _asgi_get(app: Any, raw_path: bytes) -> tuple[int, dict[str, str], bytes]:
    """A raw ASGI GET (clients refuse to send a newline in a path; a socket would not)."""
    messages: list[dict[str, Any]] = []

    async def run() -> None:
        scope = {
            "type": "http",
            "http_version": "1.1",
            "method": "GET",
            "path": raw_path.decode("latin-1"),
            "raw_path": raw_path,
            "query_string": b"",
            "headers": [(b"host", b"dev")],
            "client": ("127.0.0.1", 1234),
            "server": ("dev", 80),
            "scheme": "http",
            "root_path": "",
        }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            messages.append(message)

        await app(scope, receive, send)

    runner = threading.Thread(target=lambda: asyncio.run(run()))
    runner.start()
    runner.join()
    start = next(m for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, body


@pytest.mark.parametrize("path", [b"/v1/no\nsuch", b"/v1/patients/x\r\n", b"/v1/\n"])
def test_an_unmatched_v1_path_with_a_newline_is_an_api_404_not_a_portal_page(
    project_root: Path, path: bytes
) -> None:
    app = create_asgi_app(LocalGateway(project_root), project_root / "portal")
    status, headers, body = _asgi_get(app, path)
    assert status in (401, 404)
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body)["error"]["code"] in ("not_found", "unauthenticated")


def _has_min_length_one(schema: dict[str, Any]) -> bool:
    if schema.get("type") == "string":
        return bool(schema.get("minLength") == 1)
    return any(_has_min_length_one(s) for s in schema.get("anyOf", []) if s.get("type") != "null")


def test_every_cursor_is_documented_as_non_empty(document: dict[str, Any]) -> None:
    checked = 0
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            for param in operation.get("parameters", []):
                if param["name"] == "cursor" and param["in"] == "query":
                    assert _has_min_length_one(param["schema"]), (method, path)
                    checked += 1
    assert checked >= 20


def test_an_empty_cursor_is_a_422_naming_the_parameter(tmp_path: Path, project_root: Path) -> None:
    from scheduling_world import build

    from tpm.runtime import set_runtime

    world = build(tmp_path, project_root)
    try:
        rng = {"from": "2026-03-01T00:00:00Z", "to": "2026-03-08T00:00:00Z"}
        reply = world.call("GET", "/v1/appointments", "desk", query=rng | {"cursor": ""})
        assert reply.status == 422, reply.body
        fields = reply.body["error"]["details"]["fields"]
        assert [f["path"] for f in fields] == ["query.cursor"]
        assert world.call("GET", "/v1/appointments", "desk", query=rng).status == 200
    finally:
        set_runtime(None)


def test_a_declared_4xx_is_documented_with_the_error_body(document: dict[str, Any]) -> None:
    # POST /v1/sms/inbound declares 403 for its description; the body is still an Error
    # (schemathesis's response-schema check found it documented as a string).
    declared = 0
    for operations in document["paths"].values():
        for operation in operations.values():
            for code, response in operation["responses"].items():
                if code.startswith("4") and "application/json" in response.get("content", {}):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, code
                    declared += 1
    assert declared > 100

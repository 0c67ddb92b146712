"""Hostile bodies and parameters get a clear 4xx on every route, never a 500.

Bodies that are not UTF-8 JSON (a declared charset other than UTF-8, bytes that are not
UTF-8, lone surrogates, NaN, nesting beyond the depth limit) are 400 `malformed_json` before
any handler runs; loose coercions (`0` as a date, `false` as a version, a naive time as a
filter) are 422.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tpm.api.app import MAX_JSON_DEPTH
from tpm.local.gateway import HttpRequest, HttpResponse, LocalGateway

FAKE_ID = "pat_01h00000000000000000000000"


@pytest.fixture(scope="module")
def product(project_root: Path) -> LocalGateway:
    return LocalGateway(project_root)


def write_operations(root: Path) -> list[tuple[str, str]]:
    doc = json.loads((root / "schemas" / "openapi.json").read_text())
    found = []
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            if method in ("post", "put", "patch") and "requestBody" in operation:
                found.append((method.upper(), re.sub(r"\{[^}]+\}", FAKE_ID, path)))
    return found


def send(
    gw: LocalGateway, method: str, path: str, body: bytes, content_type: str = "application/json"
) -> HttpResponse:
    headers = [("content-type", content_type), ("authorization", "Bearer not-a-real-token")]
    return gw.dispatch(HttpRequest(method, path, headers, [], body))


def code_of(response: HttpResponse) -> str:
    return str(json.loads(response.body)["error"]["code"])


HOSTILE_BODIES: dict[str, tuple[bytes, str]] = {
    "invalid_utf8": (b'{"practice": "demo", "email": "\xff\xfe"}', "application/json"),
    "utf16": ('{"practice": "demo"}'.encode("utf-16"), "application/json; charset=utf-16"),
    "utf16_declared_on_utf8": (b'{"practice": "demo"}', "application/json; charset=UTF-16"),
    "lone_surrogate": (b'{"email": "\\ud800"}', "application/json"),
    "nan": (b'{"version": NaN}', "application/json"),
    "deep_nesting": (b"[" * 100_000 + b"]" * 100_000, "application/json"),
    "just_over_depth": (
        b'{"a":' * MAX_JSON_DEPTH + b"1" + b"}" * MAX_JSON_DEPTH + b"",
        "application/json",
    ),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_BODIES))
def test_every_route_with_a_body_refuses_non_utf8_json_with_400(
    product: LocalGateway, project_root: Path, kind: str
) -> None:
    body, content_type = HOSTILE_BODIES[kind]
    if kind == "just_over_depth":
        body = b'{"a":' * (MAX_JSON_DEPTH + 1) + b"1" + b"}" * (MAX_JSON_DEPTH + 1)
    operations = write_operations(project_root)
    assert len(operations) > 30
    assert ("POST", "/v1/auth/login") in operations
    for method, path in operations:
        response = send(product, method, path, body, content_type)
        assert response.status == 400, (method, path, response.status, response.body[:200])
        assert code_of(response) == "malformed_json", (method, path)


def test_json_at_the_depth_limit_is_accepted(product: LocalGateway) -> None:
    # GIVEN a body nested exactly MAX_JSON_DEPTH deep (a field the route does not take)
    body = b'{"a":' * MAX_JSON_DEPTH + b"1" + b"}" * MAX_JSON_DEPTH
    # WHEN it reaches sign-in THEN it is parsed and validated (422), not refused as malformed
    response = send(product, "POST", "/v1/auth/login", body)
    assert response.status == 422


def test_charset_utf8_is_fine(product: LocalGateway) -> None:
    body = json.dumps({"practice": "nope", "email": "a@b.test", "password": "x"}).encode()
    response = send(product, "POST", "/v1/auth/login", body, "application/json; charset=UTF-8")
    assert response.status == 401


def _validation_types(response: HttpResponse) -> dict[str, str]:
    assert response.status == 422, response.body[:300]
    fields: list[dict[str, Any]] = json.loads(response.body)["error"]["details"]["fields"]
    return {f["path"]: f["type"] for f in fields}


def test_login_refuses_non_string_fields_without_coercion(product: LocalGateway) -> None:
    body = json.dumps({"practice": "demo", "email": 12345, "password": True}).encode()
    types = _validation_types(send(product, "POST", "/v1/auth/login", body))
    assert types == {"body.email": "string_type", "body.password": "string_type"}

"""Schemathesis over every operation of schemas/openapi.json, signed in as each role (and
anonymously): whatever the generated input, the API never answers 5xx, and every response
conforms to what is documented for it — its status code is one the operation documents,
its content type and headers are the documented ones, and its body matches the schema for
its status (operations in SCHEMA_MISMATCHES are exempt until fixed — none today). Bounded
and deterministic (a few derandomized examples per operation), so CI stays fast and
stable; run `TPM_FUZZ_EXAMPLES=50 pytest tests/authz/test_api_fuzz.py` for a deeper
search."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import response_schema_conformance
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    status_code_conformance,
)
from world import World, build_world

from tpm.local.server import create_asgi_app
from tpm.runtime import set_runtime
from tpm.security.principal import Role

EXAMPLES = int(os.environ.get("TPM_FUZZ_EXAMPLES", "3"))
ROLES = [None, *Role]
# Operations whose responses do not match their documented schema yet ("METHOD /path").
SCHEMA_MISMATCHES: frozenset[str] = frozenset()
CONFORMANCE = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzz_world(tmp_path_factory: pytest.TempPathFactory, project_root: Path) -> Iterator[World]:
    world = build_world(tmp_path_factory.mktemp("fuzz"), project_root)
    yield world
    set_runtime(None)
    world.runtime.store.close()


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value if r else "anonymous")
def test_no_operation_answers_5xx_to_any_input(
    fuzz_world: World, project_root: Path, role: Role | None
) -> None:
    app = create_asgi_app(fuzz_world.gateway, project_root / "portal")
    schema = schemathesis.openapi.from_asgi("/v1/openapi.json", app)
    headers = {}
    if role is not None:
        user = fuzz_world.a.users[role]
        headers["Authorization"] = f"Bearer {fuzz_world.token(user, fuzz_world.a.id)}"
    server_errors: list[str] = []
    mismatches: list[str] = []
    calls = 0
    logging.disable(logging.CRITICAL)  # the handlers log every refusal; the count is enough
    try:
        for result in schema.get_all_operations():
            operation = result.ok()

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy())
            def call(case: schemathesis.Case) -> None:
                nonlocal calls
                calls += 1
                response = case.call(headers=headers)
                if response.status_code >= 500:
                    server_errors.append(
                        f"{case.method} {case.formatted_path} -> {response.status_code}"
                    )
                if case.operation.label in SCHEMA_MISMATCHES:
                    return
                try:
                    case.validate_response(response, checks=CONFORMANCE)
                except FailureGroup as found:
                    first = found.exceptions[0]
                    mismatches.append(
                        f"{case.operation.label} -> {response.status_code}:"
                        f" {getattr(first, 'title', type(first).__name__)}"
                    )

            call()
    finally:
        logging.disable(logging.NOTSET)
    assert calls >= len(list(schema.get_all_operations()))
    assert server_errors == []
    assert mismatches == []

"""Every route x every role x own/other/foreign target, against one declared table
(matrix.py). A route in template.yaml without a row fails here."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import run_case
from matrix import CASES, EVERYONE, Case
from world import World

from tpm.local.template import api_routes, load_template
from tpm.security.principal import Role

MATRIX = [
    pytest.param(case, role, variant, id=f"{case.method} {case.path} | {role.value} | {variant}")
    for case in CASES
    if not case.public
    for role in EVERYONE
    for variant in case.variants
]


def test_every_route_has_exactly_one_case(project_root: Path) -> None:
    routes = {
        (r.method, r.path)
        for r in api_routes(load_template(project_root / "template.yaml"))
        if r.path != "/{proxy+}"
    }
    declared = [(c.method, c.path) for c in CASES]
    assert len(declared) == len(set(declared)), "a route is declared twice"
    assert routes - set(declared) == set(), "routes missing from tests/authz/matrix.py"
    assert set(declared) - routes == set(), "cases for routes that do not exist"


def test_public_flags_match_the_template(project_root: Path) -> None:
    public = {
        (r.method, r.path): r.public
        for r in api_routes(load_template(project_root / "template.yaml"))
    }
    for case in CASES:
        assert public[(case.method, case.path)] == case.public, case.path


@pytest.mark.parametrize(("case", "role", "variant"), MATRIX)
def test_matrix(world: World, case: Case, role: Role, variant: str) -> None:
    outcome = run_case(world, case, role, variant)
    expected = case.status(role, variant)
    assert outcome.status == expected, (outcome.status, outcome.json())
    content_type = next((v for k, v in outcome.response.headers if k.lower() == "content-type"), "")
    if outcome.response.body:
        assert content_type.startswith("application/json"), content_type
        outcome.json()  # well-formed JSON, never a Python repr
    else:
        assert outcome.status == 204
    if outcome.status >= 400:
        error = outcome.json()["error"]
        assert error["code"]
        if expected == 404:
            # The same body as a record that does not exist: nothing reveals it does.
            assert error["details"] == {}


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.method} {c.path}")
def test_without_a_token(world: World, case: Case) -> None:
    outcome = run_case(world, case, None, case.variants[0])
    assert outcome.status == case.anonymous, outcome.json()


def test_a_token_from_another_practice_never_reaches_this_one(world: World) -> None:
    # GIVEN the owner of practice B (every permission in B)
    owner_b = world.b.users[Role.OWNER]
    token = world.token(owner_b, world.b.id)
    # WHEN they ask for practice A's patient by id THEN it does not exist for them
    response = world.call("GET", f"/v1/patients/{world.a.own_patient}", token=token)
    assert response.status == 404


def test_mass_assignment_is_rejected(world: World) -> None:
    token = world.token(world.a.users[Role.ADMIN], world.a.id)
    body = {
        "email": "mass@example.test",
        "display_name": "Mass Assign (synthetic)",
        "roles": ["front_desk"],
        "practice_id": world.b.id,
        "status": "active",
    }
    response = world.call("POST", "/v1/users", token=token, body=body)
    assert response.status == 422
    fields = {
        f["path"] for f in __import__("json").loads(response.body)["error"]["details"]["fields"]
    }
    assert fields == {"body.practice_id", "body.status"}

"""`Idempotency-Key` on POSTs that create: same key and request -> the first answer and
no second record; same key, different request -> 422; per practice and user; a failed
request keeps nothing; every creating POST opts in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.gateway_calls import call_gateway
from world import World

from tpm.local.gateway import HttpRequest, HttpResponse
from tpm.security.audit import read_events, read_head
from tpm.security.principal import Role


def post(world: World, path: str, token: str, body: Any, key: str | None = None) -> HttpResponse:
    headers = [
        ("content-type", "application/json"),
        ("authorization", f"Bearer {token}"),
        ("user-agent", "tpm-harness/1.0"),
    ]
    if key is not None:
        headers.append(("Idempotency-Key", key))
    request = HttpRequest("POST", path, headers, [], json.dumps(body).encode())
    return world.gateway.dispatch(request)


def header(response: HttpResponse, name: str) -> str | None:
    return next((v for k, v in response.headers if k.lower() == name.lower()), None)


def patient_body(last: str = "Idem") -> dict[str, Any]:
    return {"legal_first_name": "Ida", "legal_last_name": last, "date_of_birth": "1980-01-02"}


def creates(world: World, practice_id: str, after_seq: int) -> list[str]:
    store = world.runtime.store.practice(practice_id)
    head = read_head(store)
    assert head is not None
    if head.seq <= after_seq:
        return []
    events = read_events(store, after_seq + 1, head.seq)
    return [e.resource_id for e in events if e.action == "patient.create"]


def head_seq(world: World) -> int:
    head = read_head(world.runtime.store.practice(world.a.id))
    return head.seq if head else 0


def test_same_key_and_body_returns_the_first_answer_and_creates_once(world: World) -> None:
    token = world.token(world.a.users[Role.CLINICIAN], world.a.id)
    before = head_seq(world)
    first = post(world, "/v1/patients", token, patient_body(), key="k-create-1")
    second = post(world, "/v1/patients", token, patient_body(), key="k-create-1")
    assert first.status == 201
    assert second.status == 201
    assert second.body == first.body
    assert header(second, "Location") == header(first, "Location")
    assert header(first, "Idempotent-Replayed") is None
    assert header(second, "Idempotent-Replayed") == "true"
    assert creates(world, world.a.id, before) == [json.loads(first.body)["id"]]


def test_same_key_with_a_different_body_is_422_and_changes_nothing(world: World) -> None:
    token = world.token(world.a.users[Role.CLINICIAN], world.a.id)
    first = post(world, "/v1/patients", token, patient_body(), key="k-create-2")
    assert first.status == 201
    before = head_seq(world)
    other = post(world, "/v1/patients", token, patient_body("Different"), key="k-create-2")
    assert other.status == 422
    assert json.loads(other.body)["error"]["code"] == "idempotency_key_reused"
    assert creates(world, world.a.id, before) == []


def test_a_key_is_the_callers_own(world: World) -> None:
    # GIVEN two users of one practice who happen to pick the same key
    clinician = world.token(world.a.users[Role.CLINICIAN], world.a.id)
    front_desk = world.token(world.a.users[Role.FRONT_DESK], world.a.id)
    first = post(world, "/v1/patients", clinician, patient_body(), key="shared-key")
    # WHEN the second uses it THEN theirs runs (no replay of someone else's answer)
    second = post(world, "/v1/patients", front_desk, patient_body(), key="shared-key")
    assert first.status == second.status == 201
    assert json.loads(first.body)["id"] != json.loads(second.body)["id"]
    assert header(second, "Idempotent-Replayed") is None


def test_a_failed_request_keeps_nothing_so_the_retry_runs(world: World) -> None:
    token = world.token(world.a.users[Role.CLINICIAN], world.a.id)
    minor = {"legal_first_name": "Kid", "legal_last_name": "NoGuardian"}
    minor["date_of_birth"] = "2020-01-01"  # under 18 without a guardian: a service 422
    first = post(world, "/v1/patients", token, minor, key="k-fails")
    again = post(world, "/v1/patients", token, minor, key="k-fails")
    assert first.status == again.status == 422
    assert header(again, "Idempotent-Replayed") is None
    # Nothing was kept under the key, so the corrected request may use it.
    fixed = {**minor, "guardian": {"name": "Pat Parent", "relationship": "parent"}}
    assert post(world, "/v1/patients", token, fixed, key="k-fails").status == 201


def test_without_a_key_a_retry_runs_twice(world: World) -> None:
    token = world.token(world.a.users[Role.CLINICIAN], world.a.id)
    before = head_seq(world)
    one = post(world, "/v1/patients", token, patient_body("NoKey"))
    two = post(world, "/v1/patients", token, patient_body("NoKey"))
    assert one.status == two.status == 201
    assert len(creates(world, world.a.id, before)) == 2


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "naïve"])
def test_a_malformed_key_is_422(world: World, key: str) -> None:
    token = world.token(world.a.users[Role.CLINICIAN], world.a.id)
    response = post(world, "/v1/patients", token, patient_body(), key=key)
    assert response.status == 422
    fields = json.loads(response.body)["error"]["details"]["fields"]
    assert fields == [{"path": "header.Idempotency-Key", "type": "idempotency_key_format"}]


def test_a_key_needs_a_signed_in_caller(world: World) -> None:
    response = post(world, "/v1/patients", "not-a-token", patient_body(), key="k-anon")
    assert response.status == 401


def test_every_creating_post_opts_in_and_is_documented(project_root: Path) -> None:
    document = json.loads((project_root / "schemas" / "openapi.json").read_text())
    missing, documented = [], 0
    for path, operations in document["paths"].items():
        operation = operations.get("post")
        if operation is None or "201" not in operation["responses"]:
            continue
        public = operation.get("security") == []
        names = [p["name"] for p in operation.get("parameters", [])]
        if public:
            # Public creates (a prospective patient's request) have no caller to scope
            # a key to; they are rate limited instead.
            assert "Idempotency-Key" not in names, path
            continue
        if "Idempotency-Key" not in names:
            missing.append(path)
        documented += 1
    assert missing == []
    assert documented >= 20


def test_a_replay_survives_the_documented_route_shapes(world: World) -> None:
    # A 201 with a Location header and a nested body (an appointment series is the
    # richest one) replays byte for byte; a second call with the key is not re-run.
    token = world.token(world.a.users[Role.ADMIN], world.a.id)
    body = {"name": "Room 9", "kind": "office", "timezone": "America/New_York"}
    first = post(world, "/v1/locations", token, body, key="loc-1")
    second = post(world, "/v1/locations", token, body, key="loc-1")
    assert first.status == 201
    assert (second.status, second.body) == (first.status, first.body)
    listed = call_gateway(world.gateway, "GET", "/v1/locations", token=token)
    names = [loc["name"] for loc in json.loads(listed.body)["items"]]
    assert names.count("Room 9") == 1

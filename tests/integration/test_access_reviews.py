"""Access reviews: a snapshot of who holds which role and reaches how many patients, and of
the period's break-glass uses; the reviewer's decisions and verdicts (an unjustified use
opens an incident); sign-off only when nothing is outstanding, then read-only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.demo_practice import ACCOUNTS, demo_practice
from support.gateway_calls import call_gateway
from support.staff_tokens import token_for

from tpm.clock import FixedClock
from tpm.local.gateway import HttpResponse, LocalGateway
from tpm.runtime import Runtime
from tpm.security.principal import STAFF_ROLES, Role

NOW = datetime(2026, 12, 6, 16, 0, tzinfo=UTC)
REASON = "Covering the on-call line for a colleague (synthetic)"


@dataclass
class Local:
    runtime: Runtime
    gateway: LocalGateway
    practice_id: str
    clock: FixedClock

    def call(self, method: str, path: str, role: Role, body: Any = None) -> HttpResponse:
        token = token_for(self.runtime, self.practice_id, ACCOUNTS[role].email)
        return call_gateway(self.gateway, method, path, token=token, body=body)

    def ok(self, method: str, path: str, role: Role, body: Any = None) -> Any:
        response = self.call(method, path, role, body)
        assert 200 <= response.status < 300, (response.status, response.body)
        return json.loads(response.body)

    def error(self, method: str, path: str, role: Role, body: Any = None) -> tuple[int, Any]:
        response = self.call(method, path, role, body)
        return response.status, json.loads(response.body)["error"]


@pytest.fixture
def local(tmp_path: Path, project_root: Path) -> Iterator[Local]:
    with demo_practice(tmp_path, project_root, NOW, "Review Practice") as demo:
        yield Local(demo.runtime, demo.gateway, demo.practice_id, demo.clock)


def test_a_review_covers_every_role_and_break_glass_use_and_signs_off_only_when_complete(
    local: Local,
) -> None:
    # GIVEN a clinician opened a patient outside their care team with break-glass
    stranger = local.ok(
        "POST",
        "/v1/patients",
        Role.FRONT_DESK,
        {"legal_first_name": "Rae", "legal_last_name": "Synthetic", "date_of_birth": "1970-03-03"},
    )
    local.clock.advance(hours=1)
    local.ok(
        "POST", f"/v1/patients/{stranger['id']}/break-glass", Role.CLINICIAN, {"reason": REASON}
    )
    clinician = local.ok("GET", "/v1/me", Role.CLINICIAN)["id"]
    local.clock.advance(hours=1)

    # WHEN the compliance officer starts a review (clinicians may not)
    assert local.call("POST", "/v1/access-reviews", Role.CLINICIAN, {}).status == 403
    # (a period start without its offset is refused, not guessed)
    naive = {"period_from": "2026-12-01T00:00:00"}
    status, error = local.error("POST", "/v1/access-reviews", Role.COMPLIANCE, naive)
    assert (status, error["code"]) == (422, "validation_failed")
    review = local.ok("POST", "/v1/access-reviews", Role.COMPLIANCE, {})
    # THEN it lists every staff account with its roles (no patient accounts) ...
    roles = {u["display_name"]: u["roles"] for u in review["users"]}
    staff_roles = {r.value for r in STAFF_ROLES}  # not patients, not proxies (guardians)
    assert {role for rs in roles.values() for role in rs} == staff_roles
    assert all(u["decision"] is None for u in review["users"])
    # ... and the break-glass use with who, whom and why
    [use] = review["break_glass"]
    assert (use["user_id"], use["patient_id"], use["reason"]) == (
        clinician,
        stranger["id"],
        REASON,
    )
    assert (review["outstanding_users"], review["outstanding_break_glass"]) == (
        len(review["users"]),
        1,
    )
    path = f"/v1/access-reviews/{review['id']}"
    # It cannot be signed off while anything is outstanding.
    status, error = local.error(
        "POST", f"{path}/sign-off", Role.COMPLIANCE, {"version": 1, "summary": "Done"}
    )
    assert (status, error["details"]["reason"]) == (409, "users_outstanding")

    # WHEN the officer keeps every account but one, and finds the use unjustified
    first, *rest = review["users"]
    decided = local.ok(
        "POST",
        f"{path}/decisions",
        Role.COMPLIANCE,
        {
            "version": 1,
            "users": [
                {"user_id": first["user_id"], "decision": "change", "note": "Drop the admin role"},
                *({"user_id": u["user_id"], "decision": "keep"} for u in rest),
            ],
            "break_glass": [
                {"grant_id": use["grant_id"], "verdict": "unjustified", "note": "No emergency"}
            ],
        },
    )
    # THEN an incident is opened for the use, once
    incident_id = decided["break_glass"][0]["incident_id"]
    incident = local.ok("GET", f"/v1/incidents/{incident_id}", Role.COMPLIANCE)
    assert (incident["source"], incident["patient_ids"]) == ("break_glass_review", [stranger["id"]])
    # A change needs a note saying what must change.
    status, error = local.error(
        "POST",
        f"{path}/decisions",
        Role.COMPLIANCE,
        {"version": 2, "users": [{"user_id": first["user_id"], "decision": "change"}]},
    )
    assert (status, error["code"]) == (422, "validation_failed")
    # AND with nothing outstanding it signs off, and is read-only after
    signed = local.ok(
        "POST", f"{path}/sign-off", Role.COMPLIANCE, {"version": 2, "summary": "Quarterly review"}
    )
    assert (signed["status"], signed["signed_off_by"]) == (
        "signed_off",
        local.ok("GET", "/v1/me", Role.COMPLIANCE)["id"],
    )
    status, error = local.error(
        "POST", f"{path}/decisions", Role.COMPLIANCE, {"version": 3, "users": []}
    )
    assert (status, error["details"]["reason"]) == (409, "already_signed_off")
    # The next review starts where this one was signed off: the old use is not in it.
    local.clock.advance(days=1)
    nxt = local.ok("POST", "/v1/access-reviews", Role.COMPLIANCE, {})
    assert nxt["break_glass"] == []
    listed = local.ok("GET", "/v1/access-reviews", Role.COMPLIANCE)["items"]
    assert [r["id"] for r in listed] == [nxt["id"], review["id"]]
    assert timedelta(0) < datetime.fromisoformat(nxt["started_at"]) - datetime.fromisoformat(
        signed["signed_off_at"]
    )

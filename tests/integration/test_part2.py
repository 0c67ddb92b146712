"""42 CFR Part 2: a labelled patient's records leave (in a claim, an export, a release) only
under a consent with every required element, for that recipient and purpose, unexpired and
not revoked; each such disclosure carries the redisclosure notice; a refusal is audited."""

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
from tpm.domain.part2 import REDISCLOSURE_NOTICE, Part2ConsentRequired, Purpose, RecipientKind
from tpm.local.gateway import HttpResponse, LocalGateway
from tpm.runtime import Runtime
from tpm.security.audit import read_events, read_head
from tpm.security.principal import Role, SystemActor
from tpm.services.part2 import check_part2, require_part2_consent

NOW = datetime(2026, 12, 6, 16, 0, tzinfo=UTC)
CONSENT = {
    "disclosing_program": "Demo Recovery Program (synthetic)",
    "information": "Substance use disorder diagnosis, dates of service and CPT codes",
    "recipients": [{"kind": "payer", "name": "My health plans and third-party payers"}],
    "purposes": ["payment"],
    "purpose_description": "So the practice can bill my insurance for my treatment",
    "expires_on": "2027-06-30",
    "signed_by": "Pat Example",
    "signed_on": "2026-12-01",
    "statements_given": True,
}


@dataclass
class Local:
    runtime: Runtime
    gateway: LocalGateway
    practice_id: str
    clock: FixedClock
    pid: str | None = None

    def call(self, method: str, path: str, role: Role, body: Any = None) -> HttpResponse:
        token = token_for(self.runtime, self.practice_id, ACCOUNTS[role].email)
        return call_gateway(self.gateway, method, path, token=token, body=body)

    def ok(self, method: str, path: str, role: Role, body: Any = None) -> Any:
        response = self.call(method, path, role, body)
        assert 200 <= response.status < 300, (response.status, response.body)
        return json.loads(response.body)

    def patient_id(self) -> str:
        return str(self.ok("GET", "/v1/me", Role.PATIENT)["patient_id"])

    def claim_check(self, key: str | None = "60054") -> Any:
        store = self.runtime.store.practice(self.practice_id)
        if self.pid is None:
            self.pid = self.patient_id()
        return require_part2_consent(
            self.runtime,
            store,
            SystemActor("billing", self.practice_id),
            self.pid,
            kind=RecipientKind.PAYER,
            key=key,
            purpose=Purpose.PAYMENT,
        )


@pytest.fixture
def local(tmp_path: Path, project_root: Path) -> Iterator[Local]:
    with demo_practice(tmp_path, project_root, NOW, "Part 2 Practice") as demo:
        yield Local(demo.runtime, demo.gateway, demo.practice_id, demo.clock)


def test_a_claim_for_a_part2_patient_needs_a_consent_and_carries_the_notice(local: Local) -> None:
    pid = local.patient_id()
    # GIVEN a patient whose records are not Part 2: claims go, with no notice
    assert local.claim_check().notice is None
    # WHEN the clinician labels the records Part 2
    label = {"part2": True, "program": "Demo Recovery Program (synthetic)"}
    local.ok("PUT", f"/v1/patients/{pid}/part2", Role.CLINICIAN, label)
    # THEN a claim is refused, and the refusal is in the trail with the patient
    store = local.runtime.store.practice(local.practice_id)
    before = read_head(store).seq  # type: ignore[union-attr]
    with pytest.raises(Part2ConsentRequired) as refused:
        local.claim_check()
    assert refused.value.details["reason"] == "no_consent"
    [event] = list(read_events(store, before + 1, before + 1))
    assert (event.action, event.patient_id, event.outcome) == (
        "part2.disclosure_refused",
        pid,
        "denied",
    )
    # WHEN the patient's signed consent (payment, any payer) is recorded
    consent = local.ok("POST", f"/v1/patients/{pid}/part2/consents", Role.FRONT_DESK, CONSENT)
    assert consent["patient_name"] == "Pat Example"
    assert consent["active"] is True
    # THEN the claim may go, naming the consent, with the redisclosure notice
    cleared = local.claim_check()
    assert (cleared.allowed, cleared.consent_id, cleared.notice) == (
        True,
        consent["id"],
        REDISCLOSURE_NOTICE,
    )
    # AND only for what it covers: not treatment, not another kind of recipient
    decision = check_part2(
        local.runtime,
        store,
        pid,
        kind=RecipientKind.ORGANIZATION,
        key=None,
        purpose=Purpose.PAYMENT,
    )
    assert decision.allowed is False
    # WHEN the patient revokes it in the portal THEN claims stop again
    path = f"/v1/patients/{pid}/part2/consents/{consent['id']}/revoke"
    revoked = local.ok("POST", path, Role.PATIENT, {"version": consent["version"]})
    assert revoked["active"] is False
    with pytest.raises(Part2ConsentRequired):
        local.claim_check()


def test_an_expired_consent_no_longer_covers(local: Local) -> None:
    pid = local.patient_id()
    local.ok("PUT", f"/v1/patients/{pid}/part2", Role.ADMIN, {"part2": True, "program": "P"})
    local.ok("POST", f"/v1/patients/{pid}/part2/consents", Role.ADMIN, CONSENT)
    assert local.claim_check().allowed
    local.clock.advance(days=220)  # past 2027-06-30
    with pytest.raises(Part2ConsentRequired):
        local.claim_check()


def test_a_consent_missing_a_required_element_is_refused_and_nothing_is_kept(
    local: Local,
) -> None:
    pid = local.patient_id()
    path = f"/v1/patients/{pid}/part2/consents"
    for broken in (
        CONSENT | {"expires_on": None},  # no expiration date or event
        CONSENT | {"statements_given": False},  # the required statements not given
        {k: v for k, v in CONSENT.items() if k != "purposes"},  # no purpose
        CONSENT | {"signed_on": str((NOW + timedelta(days=2)).date())},  # signed tomorrow
    ):
        assert local.call("POST", path, Role.ADMIN, broken).status == 422
    view = local.ok("GET", f"/v1/patients/{pid}/part2", Role.CLINICIAN)
    assert view["consents"] == []
    assert view["redisclosure_notice"] == REDISCLOSURE_NOTICE


def test_labels_need_the_current_version(local: Local) -> None:
    pid = local.patient_id()
    first = local.ok(
        "PUT", f"/v1/patients/{pid}/part2", Role.ADMIN, {"part2": True, "program": "P"}
    )
    stale = local.call("PUT", f"/v1/patients/{pid}/part2", Role.ADMIN, {"part2": False})
    assert stale.status == 409
    again = {"part2": False, "version": first["version"]}
    assert local.ok("PUT", f"/v1/patients/{pid}/part2", Role.ADMIN, again)["part2"] is False
    assert local.claim_check().notice is None

"""A 42 CFR Part 2 consent as an intake step (docs/intake.md, docs/compliance.md): the
patient reads every element 42 CFR 2.31 requires and signs — which records the compliance
module's Part 2 consent that disclosure checks read, with e-signature evidence and a signed
PDF — or declines (it is voluntary); revoking either record revokes both; a template asking
only Part 2 patients skips the step for everyone else."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from intake_world import IntakeWorld, intake_world, owner_context
from support.demo_practice import demo_practice

from tpm.domain.part2 import Part2ConsentRequired, Purpose, RecipientKind
from tpm.security.principal import Role
from tpm.services.intake_templates import IntakeTemplateService
from tpm.services.part2 import require_part2_consent

NOW = datetime(2030, 3, 4, 15, 0, tzinfo=UTC)
CL, FD, P = Role.CLINICIAN, Role.FRONT_DESK, Role.PATIENT
PART2 = {
    "applies_to": "everyone",
    "disclosing_program": "Maple Street substance use program (synthetic)",
    "information": "My substance use disorder diagnosis, treatment dates and attendance.",
    "recipients": [{"kind": "payer", "name": "My health plans and third-party payers"}],
    "purposes": ["payment"],
    "purpose_description": "To bill my health plan for my treatment.",
    "expires_after_days": 365,
}


@pytest.fixture
def world(tmp_path: Path, project_root: Path) -> Iterator[IntakeWorld]:
    with demo_practice(tmp_path, project_root, NOW, "Maple Street practice") as demo:
        yield intake_world(demo)


def template(world: IntakeWorld, **part2: Any) -> str:
    fields = {
        "name": "Part 2 intake",
        "consents": [{"key": "treatment", "template_id": "informed_consent_treatment"}],
        "part2": {**PART2, **part2},
        "review": False,
        "appointment": False,
    }
    return IntakeTemplateService(owner_context(world.demo)).save(None, 0, fields).id


def start_verified(world: IntakeWorld, template_id: str) -> str:
    intake = world.ok(
        CL, "POST", f"/v1/patients/{world.patient_id}/intakes", {"template_id": template_id}
    )
    world.run()
    world.ok(P, "POST", "/v1/me/intake/identity", {"date_of_birth": "1990-01-01"})
    world.ok(P, "POST", "/v1/me/intake/identity/code", {"code": world.outbox_code()})
    world.run()
    return str(intake["id"])


def sign_treatment(world: IntakeWorld) -> None:
    from intake_world import filled

    form = world.ok(P, "GET", "/v1/me/intake/forms/treatment")
    body = {
        "content": filled(form),
        "signer_name": "Pat Example",
        "document_hash": form["document_hash"],
        "agree": True,
    }
    world.ok(P, "POST", "/v1/me/intake/consents/treatment/sign", body)


def payer_clearance(world: IntakeWorld) -> Any:
    runtime = world.demo.runtime
    store = runtime.store.practice(world.demo.practice_id)
    actor = owner_context(world.demo).principal
    return require_part2_consent(
        runtime,
        store,
        actor,
        world.patient_id,
        kind=RecipientKind.PAYER,
        key="payer-1",
        purpose=Purpose.PAYMENT,
    )


def test_the_patient_signs_the_part2_consent_in_the_intake(world: IntakeWorld) -> None:
    intake_id = start_verified(world, template(world))
    world.ok(CL, "PUT", f"/v1/patients/{world.patient_id}/part2", {"part2": True, "program": "SUD"})
    checklist = world.ok(P, "GET", "/v1/me/intake")
    assert checklist["current_step"] == "consents"
    assert [(c["key"], c["kind"], c["status"]) for c in checklist["consents"]] == [
        ("treatment", "consent", "todo"),
        ("part2", "part2", "todo"),
    ]
    shown = world.ok(P, "GET", "/v1/me/intake/part2")
    document = shown["document"]
    # Every element of 42 CFR 2.31, as the patient reads it.
    assert document["patient_name"] == "Pat Example"
    assert document["disclosing_program"] == PART2["disclosing_program"]
    assert document["recipients"][0]["name"] == "My health plans and third-party payers"
    assert document["expires_on"] == "2031-03-04"
    assert "revoke" in document["revocation_statement"]
    assert "prohibits unauthorized use" in document["redisclosure_statement"]
    assert "not conditioned" in document["not_conditioned_statement"]
    # Before it is signed, a claim to the payer may not carry Part 2 records.
    with pytest.raises(Part2ConsentRequired):
        payer_clearance(world)

    sign = {"decision": "sign", "signer_name": "Pat Example", "agree": True}
    status, error = world.call(
        P, "POST", "/v1/me/intake/part2", {**sign, "document_hash": "0" * 64}
    )
    assert (status, error["error"]["code"]) == (409, "document_changed")
    status, _ = world.call(P, "POST", "/v1/me/intake/part2", {"decision": "sign"})
    assert status == 422
    signed = world.ok(
        P, "POST", "/v1/me/intake/part2", {**sign, "document_hash": shown["document_hash"]}
    )
    assert signed["intake"]["part2_decision"] == "signed"
    evidence = signed["consent"]
    assert evidence["effect"] == "part2"
    assert evidence["revocable"] is True
    # The step waits for the other consent.
    assert world.ok(P, "GET", "/v1/me/intake")["current_step"] == "consents"
    sign_treatment(world)
    world.run()
    assert world.ok(CL, "GET", f"/v1/intakes/{intake_id}")["intake"]["status"] == "completed"

    # The compliance module's consent, with what the patient signed, covers the claim.
    part2 = world.ok(CL, "GET", f"/v1/patients/{world.patient_id}/part2")
    (consent,) = part2["consents"]
    assert consent["id"] == evidence["part2_consent_id"]
    assert consent["signed_by"] == "Pat Example"
    assert consent["signed_on"] == "2030-03-04"
    assert consent["expires_on"] == "2031-03-04"
    assert consent["purposes"] == ["payment"]
    assert consent["active"] is True
    clearance = payer_clearance(world)
    assert clearance.consent_id == consent["id"]
    assert clearance.notice is not None
    # The signed PDF is in the patient's documents.
    titles = [d["title"] for d in world.ok(P, "GET", "/v1/me/documents")["items"]]
    assert any("42 CFR Part 2" in t for t in titles)

    # The patient revokes it in the portal: the compliance record stops covering at once.
    revoked = world.ok(P, "POST", f"/v1/consents/{evidence['id']}/revoke")
    assert revoked["revocation_effect"] == "no_further_disclosure_part2"
    part2 = world.ok(CL, "GET", f"/v1/patients/{world.patient_id}/part2")
    assert part2["consents"][0]["active"] is False
    with pytest.raises(Part2ConsentRequired):
        payer_clearance(world)


def test_declining_completes_the_step_and_records_no_consent(world: IntakeWorld) -> None:
    intake_id = start_verified(world, template(world))
    sign_treatment(world)
    world.run()
    assert world.ok(P, "GET", "/v1/me/intake")["current_step"] == "consents"
    declined = world.ok(P, "POST", "/v1/me/intake/part2", {"decision": "decline"})
    assert declined["intake"]["part2_decision"] == "declined"
    assert declined["consent"] is None
    world.run()
    assert world.ok(CL, "GET", f"/v1/intakes/{intake_id}")["intake"]["status"] == "completed"
    assert world.ok(CL, "GET", f"/v1/patients/{world.patient_id}/part2")["consents"] == []


def test_revoking_the_compliance_record_revokes_the_evidence(world: IntakeWorld) -> None:
    start_verified(world, template(world))
    shown = world.ok(P, "GET", "/v1/me/intake/part2")
    body = {
        "decision": "sign",
        "signer_name": "Pat Example",
        "agree": True,
        "document_hash": shown["document_hash"],
    }
    evidence = world.ok(P, "POST", "/v1/me/intake/part2", body)["consent"]
    status, _ = world.call(P, "POST", "/v1/me/intake/part2", body)
    assert status == 409  # signed already: revoke it to withdraw
    consent = world.ok(CL, "GET", f"/v1/patients/{world.patient_id}/part2")["consents"][0]
    path = f"/v1/patients/{world.patient_id}/part2/consents/{consent['id']}/revoke"
    world.ok(P, "POST", path, {"version": consent["version"]})
    (mine,) = [c for c in world.ok(P, "GET", "/v1/me/consents")["items"] if c["key"] == "part2"]
    assert mine["id"] == evidence["id"]
    assert mine["status"] == "revoked"
    assert mine["revocation_effect"] == "no_further_disclosure_part2"


def test_a_part2_patients_only_step_is_skipped_for_everyone_else(world: IntakeWorld) -> None:
    fields = {"name": "Only Part 2", "part2": {**PART2, "applies_to": "part2_patients"}}
    fields |= {"review": False, "appointment": False}
    template_id = IntakeTemplateService(owner_context(world.demo)).save(None, 0, fields).id
    intake_id = start_verified(world, template_id)
    intake = world.ok(CL, "GET", f"/v1/intakes/{intake_id}")["intake"]
    assert intake["status"] == "completed"
    assert [s["status"] for s in intake["steps"]] == ["done", "done"]


def test_a_part2_consent_missing_an_element_is_refused(world: IntakeWorld) -> None:
    from tpm.errors import ValidationFailed

    service = IntakeTemplateService(owner_context(world.demo))
    fields = {"name": "No expiry", "part2": {**PART2, "expires_after_days": None}}
    with pytest.raises(ValidationFailed) as raised:
        service.save(None, 0, fields)
    assert raised.value.details["fields"][0]["type"] == "consent_elements_missing"

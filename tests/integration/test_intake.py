"""Intake end to end in-process on the local runner (the kill/restart version against a
real `tpm dev` is tests/integration/test_intake_restart.py): start → verify identity →
forms → consents → insurance card → review with one change request → approved →
appointment → done; reminders and the staff queue for a stalled step; consents revoked
with their effects."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from intake_world import IntakeWorld, filled, intake_world
from support.demo_practice import demo_practice

from tpm.domain.intake import Step, StepStatus
from tpm.repositories.intake import IntakeRepository
from tpm.repositories.patients import PatientRepository
from tpm.security.audit import read_events, read_head
from tpm.security.principal import Role

NOW = datetime(2030, 3, 4, 15, 0, tzinfo=UTC)
CL, FD, P = Role.CLINICIAN, Role.FRONT_DESK, Role.PATIENT


@pytest.fixture
def world(tmp_path: Path, project_root: Path) -> Iterator[IntakeWorld]:
    with demo_practice(tmp_path, project_root, NOW, "Maple Street practice") as demo:
        yield intake_world(demo)


def audit_actions(world: IntakeWorld) -> list[tuple[str, str, str | None]]:
    store = world.demo.runtime.store.practice(world.demo.practice_id)
    head = read_head(store)
    assert head is not None
    return [(e.action, e.actor_kind, e.reason_code) for e in read_events(store, 1, head.seq)]


def start(world: IntakeWorld) -> str:
    intake = world.ok(
        CL, "POST", f"/v1/patients/{world.patient_id}/intakes", {"template_id": world.template_id}
    )
    world.run()
    return str(intake["id"])


def verify(world: IntakeWorld) -> None:
    sent = world.ok(P, "POST", "/v1/me/intake/identity", {"date_of_birth": "1990-01-01"})
    assert sent == {"sent_to": "email"}
    world.ok(P, "POST", "/v1/me/intake/identity/code", {"code": world.outbox_code()})
    world.run()


def fill_forms(world: IntakeWorld) -> None:
    for key in ("history", "phq9"):
        form = world.ok(P, "GET", f"/v1/me/intake/forms/{key}")
        body = {"version": 0, "content": filled(form), "submit": False}
        saved = world.ok(P, "PUT", f"/v1/me/intake/forms/{key}", body)
        body = {"version": saved["version"], "content": filled(form), "submit": True}
        world.ok(P, "PUT", f"/v1/me/intake/forms/{key}", body)
    world.run()


def sign(world: IntakeWorld, key: str) -> dict:
    form = world.ok(P, "GET", f"/v1/me/intake/forms/{key}")
    body = {
        "content": filled(form),
        "signer_name": "Pat Example",
        "document_hash": form["document_hash"],
        "agree": True,
    }
    return world.ok(P, "POST", f"/v1/me/intake/consents/{key}/sign", body)


def test_an_intake_runs_from_invitation_to_first_appointment(world: IntakeWorld) -> None:
    intake_id = start(world)
    checklist = world.ok(P, "GET", "/v1/me/intake")
    assert checklist["current_step"] == "identity"
    assert [s["status"] for s in checklist["steps"]][:2] == ["open", "pending"]

    # A wrong date of birth is refused and counted; the right one sends a code.
    status, error = world.call(P, "POST", "/v1/me/intake/identity", {"date_of_birth": "1991-01-01"})
    assert status == 422
    assert error["error"]["code"] == "identity_not_confirmed"
    verify(world)
    assert world.ok(P, "GET", "/v1/me/intake")["current_step"] == "forms"

    fill_forms(world)
    assert world.ok(P, "GET", "/v1/me/intake")["current_step"] == "consents"
    sign(world, "treatment")
    consent = sign(world, "sms")
    world.run()
    assert world.ok(P, "GET", "/v1/me/intake")["current_step"] == "insurance"
    world.card("front")
    world.card("back")
    world.run()

    # The clinician reviews: one change request sends the patient back to the forms.
    detail = world.ok(CL, "GET", f"/v1/intakes/{intake_id}")
    assert detail["intake"]["status"] == "in_review"
    assert {f["key"] for f in detail["forms"]} == {"history", "phq9"}
    assert next(f for f in detail["forms"] if f["key"] == "phq9")["score"]["total"] == 0
    body = {
        "version": detail["intake"]["version"],
        "decision": "request_changes",
        "step": "forms",
        "comment": "Please add your emergency contact.",
    }
    world.ok(CL, "POST", f"/v1/intakes/{intake_id}/review", body)
    world.run()
    checklist = world.ok(P, "GET", "/v1/me/intake")
    assert checklist["status"] == "changes_requested"
    assert checklist["current_step"] == "forms"
    assert checklist["review_comment"] == "Please add your emergency contact."

    # The patient changes a submitted form: a new version, with history and a diff.
    form = world.ok(P, "GET", "/v1/me/intake/forms/history")
    content = filled(form)
    first_key = next(iter(content))
    changed = dict(content)
    changed[first_key] = content[first_key]
    response = form["response"]
    body = {"version": response["version"], "content": changed, "submit": True}
    world.ok(P, "PUT", "/v1/me/intake/forms/history", body)
    world.run()
    versions = world.ok(CL, "GET", f"/v1/intakes/{intake_id}/forms/history/versions")["items"]
    assert [v["event"] for v in versions] == ["created", "submitted", "amended"]
    diff = world.ok(
        CL, "GET", f"/v1/intakes/{intake_id}/forms/history/diff", query=[("from", "1"), ("to", "3")]
    )
    assert isinstance(diff["changes"], list)

    detail = world.ok(CL, "GET", f"/v1/intakes/{intake_id}")
    assert detail["intake"]["status"] == "in_review"
    body = {"version": detail["intake"]["version"], "decision": "approve"}
    world.ok(CL, "POST", f"/v1/intakes/{intake_id}/review", body)
    world.run()
    assert world.ok(P, "GET", "/v1/me/intake")["current_step"] == "appointment"

    # The patient books the first visit from the times offered (the template's service
    # with their clinician); the intake links it.
    offer = world.ok(P, "GET", "/v1/me/intake/appointment")
    assert offer["service"]["name"] == "First visit"
    assert offer["booked"] == []
    clinician_id = offer["clinicians"][0]["id"]
    slot = offered(world, clinician_id)[0]
    booking = {"clinician_id": clinician_id, "location_id": slot["location_id"]}
    booked = world.ok(
        P, "POST", "/v1/me/intake/appointment", {"booking": {**booking, "start": slot["start"]}}
    )
    appointment_id = booked["appointment_id"]
    world.run()
    final = world.ok(CL, "GET", f"/v1/intakes/{intake_id}")["intake"]
    assert final["status"] == "completed"
    assert final["appointment_id"] == appointment_id
    mine = world.ok(
        P, "GET", "/v1/me/appointments", query=[("from", NOW.isoformat()), ("to", LATER)]
    )["items"]
    assert [(a["id"], a["start"]) for a in mine] == [(appointment_id, slot["start"])]

    # The workflow's own actions are audited as the system actor, each step opened once.
    actions = audit_actions(world)
    opened = [r for a, k, r in actions if a == "intake.step.open" and k == "system"]
    # (the change request itself reopened the forms: that is the clinician's audited review)
    assert opened == [
        "identity",
        "forms",
        "consents",
        "insurance",
        "review",
        "review",
        "appointment",
    ]
    assert ("intake.review", "user", "changes_requested") in actions
    assert ("intake.completed", "system", None) in actions

    # The signed SMS consent turned SMS reminders on; revoking it stops them at once.
    patients = PatientRepository(
        world.demo.runtime.store.practice(world.demo.practice_id), world.demo.runtime.cipher
    )
    assert patients.get(world.patient_id).communication.sms_reminders is True
    revoked = world.ok(P, "POST", f"/v1/consents/{consent['id']}/revoke")
    assert revoked["status"] == "revoked"
    assert revoked["revocation_effect"] == "sms_reminders_stopped"
    patient = patients.get(world.patient_id)
    assert patient.communication.allows("sms") is False
    assert patient.communication.sms_opted_out_at is not None
    # The signed PDFs are patient documents, shared in the portal.
    documents = world.ok(P, "GET", "/v1/me/documents")["items"]
    assert sum(d["content_type"] == "application/pdf" for d in documents) == 2


LATER = (NOW + timedelta(days=60)).isoformat()
MONDAY = (NOW + timedelta(days=7)).date().isoformat()  # NOW is a Monday


def offered(world: IntakeWorld, clinician_id: str, day: str = MONDAY) -> list[dict]:
    query = [("clinician_id", clinician_id), ("from", day), ("to", day)]
    return world.ok(P, "GET", "/v1/me/intake/slots", query=query)["items"]


def book(world: IntakeWorld) -> str:
    """A booked first visit (booking itself is the scheduling suite's business)."""
    from tpm.domain.scheduling import Appointment
    from tpm.ids import new_id
    from tpm.repositories.appointments import AppointmentRepository

    runtime = world.demo.runtime
    store = runtime.store.practice(world.demo.practice_id)
    start_at = NOW + timedelta(days=7)
    appointment = Appointment(
        id=new_id("apt"),
        patient_ids=(world.patient_id,),
        clinician_id=new_id("usr"),
        location_id=new_id("loc"),
        service_id=new_id("svc"),
        start=start_at,
        end=start_at + timedelta(hours=1),
        created_by="test",
        created_at=NOW,
    )
    store.transact(AppointmentRepository(store, runtime.cipher).create_ops(appointment))
    return appointment.id


def test_a_stalled_step_reminds_then_goes_to_the_staff_queue(world: IntakeWorld) -> None:
    intake_id = start(world)
    clock = world.demo.clock
    sent = len(world.demo.runtime.notifier.sent)  # type: ignore[attr-defined]
    clock.advance(hours=25)
    world.run()
    reminders = world.demo.runtime.notifier.sent[sent:]  # type: ignore[attr-defined]
    assert len(reminders) == 1
    assert "intake" not in reminders[0].text.lower()
    world.sign_in_again()
    assert world.ok(FD, "GET", f"/v1/intakes/{intake_id}")["intake"]["status"] == "invited"
    clock.advance(hours=25)
    world.run()
    world.sign_in_again()
    queue = world.ok(FD, "GET", "/v1/intakes")["items"]
    assert queue[0]["id"] == intake_id
    assert queue[0]["status"] == "stalled"
    # Staff resend the invitation: the intake resumes and the patient can go on.
    resumed = world.ok(FD, "POST", f"/v1/intakes/{intake_id}/resend-invitation")
    assert resumed["status"] == "invited"  # identity is still to confirm
    world.run()
    verify(world)
    assert world.ok(P, "GET", "/v1/me/intake")["current_step"] == "forms"


def test_staff_cancel_and_restart(world: IntakeWorld) -> None:
    intake_id = start(world)
    verify(world)
    detail = world.ok(FD, "GET", f"/v1/intakes/{intake_id}")
    assert detail["content_visible"] is False
    assert detail["forms"] == []
    restarted = world.ok(
        FD, "POST", f"/v1/intakes/{intake_id}/restart", {"version": detail["intake"]["version"]}
    )
    assert restarted["run"] == 2
    world.run()
    # Done steps stay done: the new run goes straight back to the forms.
    assert world.ok(P, "GET", "/v1/me/intake")["current_step"] == "forms"
    cancelled = world.ok(
        FD,
        "POST",
        f"/v1/intakes/{intake_id}/cancel",
        {"version": world.ok(FD, "GET", f"/v1/intakes/{intake_id}")["intake"]["version"]},
    )
    assert cancelled["status"] == "cancelled"
    status, _ = world.call(P, "GET", "/v1/me/intake")
    assert status == 404


def test_too_many_wrong_dates_of_birth_lock_until_staff_help(world: IntakeWorld) -> None:
    intake_id = start(world)
    for attempt in range(5):
        status, error = world.call(
            P, "POST", "/v1/me/intake/identity", {"date_of_birth": "1970-01-01"}
        )
        expected = "verification_locked" if attempt == 4 else "identity_not_confirmed"
        assert error["error"]["code"] == expected, attempt
    # Locked: even the right date is refused, and the intake waits in the staff queue.
    status, error = world.call(P, "POST", "/v1/me/intake/identity", {"date_of_birth": "1990-01-01"})
    assert (status, error["error"]["code"]) == (409, "verification_locked")
    assert world.ok(FD, "GET", "/v1/intakes")["items"][0]["status"] == "stalled"
    actions = [r for a, _, r in audit_actions(world) if a == "intake.self.verify"]
    assert actions.count("dob_mismatch") == 4
    assert actions.count("dob_locked") == 1
    # Staff resend the invitation: the lock is lifted and the patient verifies.
    world.ok(FD, "POST", f"/v1/intakes/{intake_id}/resend-invitation")
    world.run()
    verify(world)
    assert world.ok(P, "GET", "/v1/me/intake")["current_step"] == "forms"


def test_the_first_visit_booked_by_staff_or_linked(world: IntakeWorld) -> None:
    """A template with identity and first visit only: the patient is offered only free
    times; front desk book the visit for them (one transaction: appointment, intake, two
    audit events); on a later intake they link a visit booked elsewhere."""
    from intake_world import owner_context

    from tpm.services.intake_templates import IntakeTemplateService

    short = IntakeTemplateService(owner_context(world.demo)).save(
        None, 0, {"name": "Returning client", "review": False}
    )
    status, error = world.call(
        CL,  # (the clinician may not change templates)
        "POST",
        "/v1/intake-templates",
        {"version": 0, "name": "x", "first_visit_service_id": "svc_" + "0" * 26},
    )
    assert status == 403
    intake = world.ok(
        FD, "POST", f"/v1/patients/{world.patient_id}/intakes", {"template_id": short.id}
    )
    world.run()
    verify(world)
    assert world.ok(P, "GET", "/v1/me/intake")["current_step"] == "appointment"
    # No first-visit service in this template: nothing offered, the practice books it.
    offer = world.ok(P, "GET", "/v1/me/intake/appointment")
    assert offer["service"] is None
    assert offer["clinicians"] == []
    status, error = world.call(P, "GET", "/v1/me/intake/slots", query=[
        ("clinician_id", "usr_" + "0" * 26), ("from", MONDAY), ("to", MONDAY)
    ])  # fmt: skip
    assert (status, error["error"]["details"]["fields"][0]["type"]) == (422, "not_offered")
    # Staff book it: the step is done, the intake completes, both are audited.
    detail = world.ok(FD, "GET", f"/v1/intakes/{intake['id']}")
    clinician = world.ok(CL, "GET", "/v1/me")["id"]
    catalogue = world.demo.runtime.store.practice(world.demo.practice_id)
    from tpm.repositories.catalogue import CatalogueRepository

    repo = CatalogueRepository(catalogue)
    service = next(s for s in repo.services() if s.name == "First visit")
    location = repo.locations()[0]
    start = f"{MONDAY}T15:00:00Z"  # 10:00 in Chicago (CDT)
    body = {
        "version": detail["intake"]["version"],
        "booking": {
            "clinician_id": clinician,
            "service_id": service.id,
            "location_id": location.id,
            "start": start,
        },
    }
    # Without the version the intake has now: 409, nothing booked.
    status, error = world.call(
        FD, "POST", f"/v1/intakes/{intake['id']}/appointment", {**body, "version": 1}
    )
    assert status == 409
    done = world.ok(FD, "POST", f"/v1/intakes/{intake['id']}/appointment", body)
    assert done["appointment"]["start"] == start
    assert done["intake"]["appointment_id"] == done["appointment"]["id"]
    world.run()
    final = world.ok(FD, "GET", f"/v1/intakes/{intake['id']}")["intake"]
    assert final["status"] == "completed"
    actions = audit_actions(world)
    assert ("appointment.book", "user", "intake_first_visit") in actions
    assert ("intake.manage", "user", "appointment_booked") in actions
    # Booked twice? The step is closed now.
    status, error = world.call(FD, "POST", f"/v1/intakes/{intake['id']}/appointment", body)
    assert status == 409

    # A later intake: the visit already booked is linked instead.
    again = world.ok(
        FD, "POST", f"/v1/patients/{world.patient_id}/intakes", {"template_id": short.id}
    )
    world.run()
    verify(world)
    offer = world.ok(P, "GET", "/v1/me/intake/appointment")
    assert [a["id"] for a in offer["booked"]] == [done["appointment"]["id"]]
    version = world.ok(FD, "GET", f"/v1/intakes/{again['id']}")["intake"]["version"]
    body = {"version": version, "appointment_id": done["appointment"]["id"]}
    linked = world.ok(FD, "POST", f"/v1/intakes/{again['id']}/appointment", body)
    assert linked["intake"]["appointment_id"] == done["appointment"]["id"]
    world.run()
    assert world.ok(FD, "GET", f"/v1/intakes/{again['id']}")["intake"]["status"] == "completed"


def test_the_patient_books_only_an_offered_time(world: IntakeWorld) -> None:
    intake_id = start(world)
    verify(world)
    store = world.demo.runtime.store.practice(world.demo.practice_id)
    repo = IntakeRepository(store, world.demo.runtime.cipher)
    # Jump to the appointment step (the earlier steps are the main test's business).
    intake = repo.get(intake_id)
    now = world.demo.clock.now()
    steps = intake.steps
    for step in (Step.FORMS, Step.CONSENTS, Step.INSURANCE, Step.REVIEW):
        steps = intake.model_copy(update={"steps": steps}).with_step(step, StepStatus.DONE, now)
    store.transact([repo.put_op(intake.bump(now, steps=steps))])
    world.ok(FD, "POST", f"/v1/intakes/{intake_id}/restart", {"version": intake.version + 1})
    world.run()
    assert world.ok(P, "GET", "/v1/me/intake")["current_step"] == "appointment"
    clinician_id = world.ok(P, "GET", "/v1/me/intake/appointment")["clinicians"][0]["id"]
    slots = offered(world, clinician_id)
    assert slots
    nine = datetime.fromisoformat(f"{MONDAY}T14:00:00+00:00")  # 09:00 in Chicago (CDT)
    assert all(datetime.fromisoformat(s["start"]) >= nine for s in slots)
    # Outside the clinician's hours, or a clinician not on the care team: not offered.
    early = {"clinician_id": clinician_id, "location_id": slots[0]["location_id"]}
    status, error = world.call(
        P, "POST", "/v1/me/intake/appointment",
        {"booking": {**early, "start": f"{MONDAY}T12:00:00Z"}},
    )  # fmt: skip
    assert (status, error["error"]["details"]["fields"][0]["type"]) == (422, "not_offered")
    status, error = world.call(
        P, "GET", "/v1/me/intake/slots",
        query=[("clinician_id", world.ok(FD, "GET", "/v1/me")["id"]), ("from", MONDAY),
               ("to", MONDAY)],
    )  # fmt: skip
    assert (status, error["error"]["details"]["fields"][0]["type"]) == (422, "not_offered")
    # A time taken meanwhile (another patient's visit) is no longer offered.
    first = slots[0]
    world.ok(FD, "POST", "/v1/appointments", {
        "patient_ids": [new_other_patient(world)], "clinician_id": clinician_id,
        "service_id": first_visit_service(world), "location_id": first["location_id"],
        "start": first["start"],
    })  # fmt: skip
    assert first["start"] not in {s["start"] for s in offered(world, clinician_id)}
    status, error = world.call(
        P, "POST", "/v1/me/intake/appointment", {"booking": {**early, "start": first["start"]}}
    )
    assert (status, error["error"]["details"]["fields"][0]["type"]) == (422, "not_offered")
    # Neither or both of booking and appointment_id: 422, nothing changes.
    status, error = world.call(P, "POST", "/v1/me/intake/appointment", {})
    assert (status, error["error"]["code"]) == (422, "validation_failed")
    assert world.ok(P, "GET", "/v1/me/intake")["current_step"] == "appointment"


def first_visit_service(world: IntakeWorld) -> str:
    from tpm.repositories.catalogue import CatalogueRepository

    store = world.demo.runtime.store.practice(world.demo.practice_id)
    return next(s.id for s in CatalogueRepository(store).services() if s.name == "First visit")


def new_other_patient(world: IntakeWorld) -> str:
    body = {"legal_first_name": "Other", "legal_last_name": "Person", "date_of_birth": "1970-02-03"}
    return str(world.ok(FD, "POST", "/v1/patients", body)["id"])

"""Authorization matrix rows for the intake and consent routes (see matrix.py).

Targets are seeded directly in the state each route needs (an intake waiting for review,
a patient's intake with one step open …): the workflow itself is driven in
tests/integration/test_intake.py. Patients get unique emails, because starting an intake
invites the patient to the portal (one account per email per practice)."""

from __future__ import annotations

import base64
import io
from datetime import date, timedelta
from typing import Any

from matrix import (
    CL,
    OW,
    PATIENT_VARIANTS,
    STAFF,
    A,
    B,
    C,
    Case,
    F,
    P,
    S,
    Target,
    every,
    patient,
)
from matrix_scheduling import catalogue
from world import World

from tpm.clock import to_rfc3339
from tpm.domain.intake import (
    Consent,
    ConsentItem,
    Effect,
    FormItem,
    FormResponse,
    FormStatus,
    Intake,
    IntakeStatus,
    IntakeTemplate,
    Part2Item,
    Step,
    StepStatus,
    Verification,
    code_hash,
    document_hash,
    new_steps,
)
from tpm.domain.notes import GENESIS, VersionEvent, make_version
from tpm.domain.part2 import Purpose, Recipient, RecipientKind
from tpm.domain.patients import Patient
from tpm.domain.scheduling import Appointment
from tpm.domain.templates import builtin_library
from tpm.ids import new_id
from tpm.repositories.appointments import AppointmentRepository
from tpm.repositories.intake import IntakeRepository
from tpm.repositories.patients import PatientRepository
from tpm.repositories.relationships import StoreRelationships
from tpm.security.principal import Role

PHQ2 = {"administered_on": "2030-01-01", "answers": {"item_1": 0, "item_2": 1}}
SMS_CONSENT = {
    "channels": {"sms": ["reminders"]},
    "risks_understood": True,
    "not_for_emergencies": True,
    "signature": {
        "signer_name": "Testy McPatient",
        "relationship": "self",
        "signed_on": "2030-01-01",
    },
}
TEMPLATE_BODY = {
    "version": 0,
    "name": "Matrix intake",
    "forms": [{"key": "phq", "template_id": "phq2"}],
    "consents": [{"key": "sms", "template_id": "electronic_communication_consent"}],
    "insurance_card": True,
}
CODE = "123456"


def _repo(world: World, practice_id: str) -> IntakeRepository:
    return IntakeRepository(world.runtime.store.practice(practice_id), world.runtime.cipher)


PART2_ITEM = Part2Item(
    applies_to="everyone",
    disclosing_program="Matrix program",
    information="Substance use disorder treatment records.",
    recipients=(Recipient(kind=RecipientKind.PAYER, name="My health plans"),),
    purposes=(Purpose.PAYMENT,),
    purpose_description="Billing.",
    expires_after_days=365,
)


def seed_template(
    world: World, practice_id: str, service_id: str | None = None, part2: bool = False
) -> IntakeTemplate:
    template = IntakeTemplate(
        id=new_id("itp"),
        version=1,
        name="Matrix intake",
        forms=(FormItem(key="phq", template_id="phq2", template_version=1),),
        consents=(
            ConsentItem(
                key="sms",
                template_id="electronic_communication_consent",
                template_version=1,
                revocable=True,
                effect=Effect.SMS_REMINDERS,
            ),
        ),
        insurance_card=True,
        first_visit_service_id=service_id,
        part2=PART2_ITEM if part2 else None,
        created_at=world.runtime.clock.now(),
        created_by="test-harness",
    )
    world.system_write(practice_id, _repo(world, practice_id).template_ops(template))
    return template


def unique_patient(world: World, role: Role, variant: str) -> tuple[str, str]:
    """(practice id, patient id): like matrix.patient, with an email of its own."""
    if role is Role.PATIENT and variant == "own":
        return world.a.id, world.a.own_patient
    practice_id = world.b.id if variant == "foreign" else world.a.id
    store = world.runtime.store.practice(practice_id)
    pid = new_id("pat")
    record = Patient(
        id=pid,
        legal_first_name="Testy",
        legal_last_name="McPatient",
        date_of_birth=date(1985, 5, 5),
        email=f"testy-{pid[-10:]}@example.test",
        created_at=world.runtime.clock.now(),
        created_by="test-harness",
    )
    ops = [PatientRepository(store, world.runtime.cipher).create_op(record)]
    related = variant == "own" or (variant == "foreign" and role is not Role.PATIENT)
    if related:
        ops.append(
            StoreRelationships.add_member_op(
                pid,
                (world.b if variant == "foreign" else world.a).users[Role.CLINICIAN].id,
                world.runtime.clock.now(),
            )
        )
    world.system_write(practice_id, ops)
    return practice_id, pid


def seed_intake(
    world: World,
    practice_id: str,
    patient_id: str,
    *,
    open_step: Step | None = None,
    status: IntakeStatus = IntakeStatus.IN_PROGRESS,
    verified: bool = True,
    done: tuple[Step, ...] = (),
    service_id: str | None = None,
    part2: bool = False,
) -> Intake:
    template = seed_template(world, practice_id, service_id, part2)
    now = world.runtime.clock.now()
    steps = tuple(
        s.model_copy(
            update={
                "status": StepStatus.DONE
                if s.step in done
                else StepStatus.OPEN
                if s.step == open_step
                else StepStatus.PENDING
            }
        )
        for s in new_steps(template)
    )
    intake = Intake(
        id=new_id("int"),
        patient_id=patient_id,
        template_id=template.id,
        template_version=1,
        status=status,
        steps=steps,
        current_step=open_step,
        identity_verified_at=now if verified else None,
        started_by="test-harness",
        created_at=now,
        updated_at=now,
    )
    repo = _repo(world, practice_id)
    world.system_write(practice_id, [repo.put_op(intake)])
    return intake


def seed_form(world: World, practice_id: str, intake: Intake) -> None:
    now = world.runtime.clock.now()
    version = make_version(
        f"{intake.id}.phq",
        1,
        VersionEvent.SUBMITTED,
        now,
        to_rfc3339(now),
        "test-harness",
        "phq2",
        1,
        PHQ2,
        GENESIS,
    )
    form = FormResponse(
        intake_id=intake.id,
        key="phq",
        patient_id=intake.patient_id,
        template_id="phq2",
        template_version=1,
        status=FormStatus.SUBMITTED,
        content=PHQ2,
        content_hash=version.content_hash,
        chain_hash=version.chain_hash,
        submitted_at=now,
        updated_at=now,
    )
    world.system_write(practice_id, _repo(world, practice_id).form_ops(form, version))


def intake_target(
    *,
    status: IntakeStatus = IntakeStatus.IN_PROGRESS,
    open_step: Step | None = Step.FORMS,
    form: bool = False,
    body: Any = None,
) -> Target:
    def make(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
        practice_id, pid = unique_patient(world, role, variant)
        intake = seed_intake(world, practice_id, pid, open_step=open_step, status=status)
        if form:
            seed_form(world, practice_id, intake)
        payload = body(world, practice_id, intake) if callable(body) else body
        return {"intakeId": intake.id, "patientId": pid, "key": "phq"}, payload

    return make


def start_target(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    _, pid = unique_patient(world, role, variant)
    template = seed_template(world, world.a.id)
    return {"patientId": pid}, {"template_id": template.id}


def template_target(body: Any = None) -> Target:
    def make(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
        practice_id = world.b.id if variant == "foreign" else world.a.id
        return {"templateId": seed_template(world, practice_id).id}, body

    return make


def consent_target(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    practice_id, pid = unique_patient(world, role, variant)
    now = world.runtime.clock.now()
    template = builtin_library().get("electronic_communication_consent", 1)
    consent = Consent(
        id=new_id("cns"),
        patient_id=pid,
        intake_id=None,
        key="sms",
        template_id=template.id,
        template_version=1,
        title=template.title,
        document_hash=document_hash(template.definition()),
        content_hash="0" * 64,
        content=SMS_CONSENT,
        signer_user_id="test-harness",
        signer_name="Testy McPatient",
        identity_verified_at=now,
        signed_at=now,
        source_ip="127.0.0.1",
        user_agent="pytest",
        revocable=True,
        effect=Effect.SMS_REMINDERS,
    )
    world.system_write(practice_id, [_repo(world, practice_id).consent_op(consent)])
    return {"consentId": consent.id, "patientId": pid}, None


def my_intake(open_step: Step, *, verified: bool = True, body: Any = None, **extra: Any) -> Target:
    """The patient's own intake with `open_step` waiting (staff callers get 403 first)."""

    def make(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
        pid = world.a.own_patient
        done = tuple(
            s
            for s in (Step.IDENTITY, Step.FORMS, Step.CONSENTS, Step.INSURANCE, Step.REVIEW)
            if s != open_step and verified
        )
        service_id = catalogue(world, world.a)[1] if extra.get("service") else None
        intake = seed_intake(
            world,
            world.a.id,
            pid,
            open_step=open_step,
            verified=verified,
            done=done,
            service_id=service_id,
            part2=bool(extra.get("part2")),
        )
        if extra.get("slots"):
            day = (world.runtime.clock.now() + timedelta(days=10)).date().isoformat()
            clinician = world.a.users[Role.CLINICIAN].id
            SLOTS_QUERY[:] = [("clinician_id", clinician), ("from", day), ("to", day)]
        repo = _repo(world, world.a.id)
        if extra.get("code"):
            v = Verification(
                intake_id=intake.id,
                code_hash=code_hash(intake.id, CODE),
                code_sent_at=world.runtime.clock.now(),
                channel="email",
            )
            world.system_write(world.a.id, [repo.verification_op(v)])
        payload = body(world, intake) if callable(body) else body
        return {
            "key": "phq" if open_step == Step.FORMS else "sms",
            "side": "front",
            "patientId": pid,
        }, payload

    return make


def sign_body(world: World, intake: Intake) -> dict[str, Any]:
    template = builtin_library().get("electronic_communication_consent", 1)
    return {
        "content": SMS_CONSENT,
        "signer_name": "Testy McPatient",
        "document_hash": document_hash(template.definition()),
        "agree": True,
    }


def card_body(world: World, intake: Intake) -> dict[str, Any]:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (200, 120), (10, 20, 30)).save(out, format="PNG")
    return {"content_base64": base64.b64encode(out.getvalue()).decode()}


def appointment_body(world: World, intake: Intake, practice_id: str = "") -> dict[str, Any]:
    practice_id = practice_id or world.a.id
    store = world.runtime.store.practice(practice_id)
    start = (world.runtime.clock.now() + timedelta(days=3)).replace(
        minute=0, second=0, microsecond=0
    )
    appointment = Appointment(
        id=new_id("apt"),
        patient_ids=(intake.patient_id,),
        clinician_id=new_id("usr"),  # a slot of its own each time
        location_id=new_id("loc"),
        service_id=new_id("svc"),
        start=start,
        end=start + timedelta(hours=1),
        created_by="test-harness",
        created_at=world.runtime.clock.now(),
    )
    world.system_write(
        practice_id, AppointmentRepository(store, world.runtime.cipher).create_ops(appointment)
    )
    return {"appointment_id": appointment.id}


def staff_link_body(world: World, practice_id: str, intake: Intake) -> dict[str, Any]:
    return {"version": 1, **appointment_body(world, intake, practice_id)}


# The clinician's id is only known once the world exists: filled in by the target.
SLOTS_QUERY: list[tuple[str, str]] = []


READ_ROLES = {OW: (200, 200, 404), A: (200, 200, 404), F: (200, 200, 404), CL: (200, 404, 404)}
MANAGE = {**READ_ROLES, S: 403, C: 403, B: 403, P: 403}
TEMPLATE_READERS = [OW, A, F, CL, S]
PORTAL = every(403, STAFF)

CASES: list[Case] = [
    Case(
        "GET",
        "/v1/intake-templates",
        {**every(403), **every(200, TEMPLATE_READERS)},
        audit=("intake.template.read",),
    ),
    Case(
        "POST",
        "/v1/intake-templates",
        {**every(403), OW: 201, A: 201},
        target=lambda world, role, variant: ({}, TEMPLATE_BODY),
        audit=("intake.template.manage",),
    ),
    Case(
        "GET",
        "/v1/intake-templates/{templateId}",
        {**every(403), **every((200, 404), TEMPLATE_READERS)},  # type: ignore[arg-type]
        variants=("own", "foreign"),
        target=template_target(),
        audit=("intake.template.read",),
    ),
    Case(
        "POST",
        "/v1/intake-templates/{templateId}/versions",
        {**every(403), OW: (201, 404), A: (201, 404)},
        variants=("own", "foreign"),
        target=template_target({**TEMPLATE_BODY, "version": 1}),
        audit=("intake.template.manage",),
    ),
    Case(
        "POST",
        "/v1/patients/{patientId}/intakes",
        {
            **every(403),
            OW: (201, 201, 404),
            A: (201, 201, 404),
            F: (201, 201, 404),
            CL: (201, 404, 404),
        },
        variants=PATIENT_VARIANTS,
        target=start_target,
        audit=("intake.start",),
        patient_scoped=True,
    ),
    Case(
        "GET",
        "/v1/patients/{patientId}/intakes",
        {**every(403), **READ_ROLES, S: (200, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=lambda world, role, variant: ({"patientId": patient(world, role, variant)}, None),
        audit=("intake.read",),
        patient_scoped=True,
    ),
    Case(
        "GET",
        "/v1/intakes",
        {**every(403), **every(200, [OW, A, F, CL, S])},
        audit=("intake.list",),
    ),
    Case(
        "GET",
        "/v1/intakes/{intakeId}",
        {**every(403), **READ_ROLES, S: (200, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=intake_target(),
        audit=("intake.read",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/intakes/{intakeId}/review",
        {**every(403), CL: (200, 404, 404), S: 404},
        variants=PATIENT_VARIANTS,
        target=intake_target(
            status=IntakeStatus.IN_REVIEW,
            open_step=Step.REVIEW,
            body={"version": 1, "decision": "approve"},
        ),
        audit=("intake.review",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/intakes/{intakeId}/resend-invitation",
        MANAGE,
        variants=PATIENT_VARIANTS,
        target=intake_target(),
        audit=("intake.manage",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/intakes/{intakeId}/cancel",
        MANAGE,
        variants=PATIENT_VARIANTS,
        target=intake_target(body={"version": 1}),
        audit=("intake.manage",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/intakes/{intakeId}/restart",
        MANAGE,
        variants=PATIENT_VARIANTS,
        target=intake_target(body={"version": 1}),
        audit=("intake.manage",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/intakes/{intakeId}/appointment",
        MANAGE,
        variants=PATIENT_VARIANTS,
        target=intake_target(
            status=IntakeStatus.SCHEDULING, open_step=Step.APPOINTMENT, body=staff_link_body
        ),
        audit=("intake.manage",),
        patient_scoped=True,
    ),
    Case(
        "GET",
        "/v1/intakes/{intakeId}/forms/{key}/versions",
        {**every(403), CL: (200, 404, 404), S: (200, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=intake_target(form=True),
        audit=("intake.form.read",),
        patient_scoped=True,
    ),
    Case(
        "GET",
        "/v1/intakes/{intakeId}/forms/{key}/diff",
        {**every(403), CL: (200, 404, 404), S: (200, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=intake_target(form=True),
        audit=("intake.form.read",),
        patient_scoped=True,
        query=[("from", "1"), ("to", "1")],
    ),
    Case(
        "PUT",
        "/v1/intakes/{intakeId}/forms/{key}",
        {**every(403), CL: (200, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=intake_target(form=True, body={"version": 1, "content": PHQ2, "submit": True}),
        audit=("intake.form.amend",),
        patient_scoped=True,
    ),
    Case(
        "GET",
        "/v1/patients/{patientId}/consents",
        {**every(403), **READ_ROLES, C: (200, 200, 404), S: (200, 404, 404), P: (200, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=lambda world, role, variant: ({"patientId": patient(world, role, variant)}, None),
        audit=("consent.read",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/consents/{consentId}/revoke",
        {**every(403), **READ_ROLES, P: (200, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=consent_target,
        audit=("consent.revoke",),
        patient_scoped=True,
    ),
    Case(
        "GET",
        "/v1/me/intake",
        {**PORTAL, P: 200},
        target=my_intake(Step.FORMS),
        audit=("intake.self.read",),
    ),
    Case(
        "POST",
        "/v1/me/intake/identity",
        {**PORTAL, P: 200},
        target=my_intake(Step.IDENTITY, verified=False, body={"date_of_birth": "1985-05-05"}),
        audit=("intake.self.verify",),
    ),
    Case(
        "POST",
        "/v1/me/intake/identity/code",
        {**PORTAL, P: 200},
        target=my_intake(Step.IDENTITY, verified=False, body={"code": CODE}, code=True),
        audit=("intake.self.verify",),
    ),
    Case(
        "GET",
        "/v1/me/intake/forms/{key}",
        {**PORTAL, P: 200},
        target=my_intake(Step.FORMS),
        audit=("intake.self.read",),
    ),
    Case(
        "PUT",
        "/v1/me/intake/forms/{key}",
        {**PORTAL, P: 200},
        target=my_intake(Step.FORMS, body={"version": 0, "content": PHQ2, "submit": False}),
        audit=("intake.self.submit",),
    ),
    Case(
        "POST",
        "/v1/me/intake/consents/{key}/sign",
        {**PORTAL, P: 201},
        target=my_intake(Step.CONSENTS, body=sign_body),
        audit=("intake.self.submit",),
    ),
    Case(
        "POST",
        "/v1/me/intake/insurance-card/{side}",
        {**PORTAL, P: 201},
        target=my_intake(Step.INSURANCE, body=card_body),
        audit=("intake.self.submit",),
    ),
    Case(
        "POST",
        "/v1/me/intake/appointment",
        {**PORTAL, P: 200},
        target=my_intake(Step.APPOINTMENT, body=appointment_body),
        audit=("intake.self.submit",),
    ),
    Case(
        "GET",
        "/v1/me/intake/appointment",
        {**PORTAL, P: 200},
        target=my_intake(Step.APPOINTMENT, service=True),
        audit=("intake.self.read",),
    ),
    Case(
        "GET",
        "/v1/me/intake/slots",
        {**PORTAL, P: 200},
        target=my_intake(Step.APPOINTMENT, service=True, slots=True),
        audit=("intake.self.read",),
        query=SLOTS_QUERY,
    ),
    Case(
        "GET",
        "/v1/me/intake/part2",
        {**PORTAL, P: 200},
        target=my_intake(Step.CONSENTS, part2=True),
        audit=("intake.self.read",),
    ),
    Case(
        "POST",
        "/v1/me/intake/part2",
        {**PORTAL, P: 200},
        target=my_intake(Step.CONSENTS, part2=True, body={"decision": "decline"}),
        audit=("intake.self.submit",),
    ),
    Case(
        "GET",
        "/v1/me/consents",
        {**every(404, [OW, A, F, C, CL, S]), B: 403, P: 200},
        audit=("consent.read",),
    ),
]

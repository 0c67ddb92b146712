"""The demo practice's intake (docs/intake.md), seeded through the services and the local
workflow runner exactly as real use would go, so the staff app's intake queue has
something in each state a newcomer should see:

- an intake template "Adult outpatient (demo)": registration and PHQ-9 forms, informed
  consent and telehealth consent, an insurance card, clinician review, and the intake
  assessment as the first visit;
- Morgan: invited (no portal account yet: the invitation is in the outbox at /dev/outbox;
  follow its link to walk the patient's side);
- Jordan: a submitted packet waiting for the clinician's review (forms, two signed
  consents with their PDFs, both card photos);
- Riley: stalled — five wrong dates of birth locked the identity check, so the intake is
  first in the staff queue until someone resends the invitation or restarts it.

Jordan and Riley get portal accounts (passwords below; their records are synthetic).
"""

from __future__ import annotations

import base64
import contextlib
import io
import re
from datetime import date
from typing import TYPE_CHECKING, Any

from tpm.adapters.notify.outbox import OutboxNotifier
from tpm.adapters.workflows.local import LocalWorkflows
from tpm.domain.users import User, UserStatus
from tpm.errors import TpmError
from tpm.ids import new_id
from tpm.repositories.patients import PatientRepository
from tpm.repositories.users import UserRepository
from tpm.runtime import runtime_installed
from tpm.security import passwords
from tpm.security.audit_chain import AuditEvent
from tpm.security.principal import Role, SystemActor
from tpm.services.intake import IntakeService
from tpm.services.intake_portal import PatientIntake
from tpm.services.intake_templates import IntakeTemplateService

if TYPE_CHECKING:
    from tpm.local.demo_practice import DemoSeed

PORTAL_PASSWORD = "harbor-violet-pebble-27"  # noqa: S105 - synthetic demo patients

TEMPLATE: dict[str, Any] = {
    "name": "Adult outpatient (demo)",
    "forms": [
        {"key": "registration", "template_id": "client_registration"},
        {"key": "phq9", "template_id": "phq9"},
    ],
    "consents": [
        {"key": "treatment", "template_id": "informed_consent_treatment"},
        {"key": "telehealth", "template_id": "telehealth_consent"},
    ],
    "insurance_card": True,
    "review": True,
    "appointment": True,
    "remind_after_hours": 72,
    "reminders_before_stall": 2,
}


def _runner(seed: DemoSeed) -> Any:
    from tpm.local.workflow_runner import template_runner

    workflows = seed.runtime.workflows
    assert isinstance(workflows, LocalWorkflows)
    return template_runner(workflows, seed.runtime.store)


def _portal_account(seed: DemoSeed, key: str, email: str, name: str) -> str:
    """A portal account for a demo patient, as an accepted invitation leaves it."""
    store = seed.runtime.store.practice(seed.practice_id)
    users = UserRepository(store, seed.runtime.cipher)
    user = User(
        id=new_id("usr"),
        email=email,
        display_name=name,
        roles=frozenset({Role.PATIENT}),
        status=UserStatus.ACTIVE,
        patient_id=seed.ids[key],
        password_hash=passwords.hash_password(PORTAL_PASSWORD),
        created_at=seed.now,
        invited_by="bootstrap",
        approved_by="bootstrap",
    )
    ops = [*users.create_ops(user)]
    ops.append(users.role_change_op(user.id, seed.now, "bootstrap", [], ["patient"]))
    ops.append(PatientRepository.portal_link_op(seed.ids[key], user.id, "accepted", 1))
    seed.runtime.audit.write_with_audit(
        store,
        lambda: list(ops),
        AuditEvent.for_system(
            SystemActor("bootstrap", seed.practice_id),
            action="practice.seed",
            resource_kind="user",
            resource_id=user.id,
            patient_id=seed.ids[key],
            reason_code="demo_portal_account",
        ),
    )
    return user.id


def _code(seed: DemoSeed) -> str:
    notifier = seed.runtime.notifier
    assert isinstance(notifier, OutboxNotifier)
    for entry in reversed(notifier.sent):
        found = re.search(r"one-time (?:portal )?code is (\d{6})", entry.text)
        if found:
            return found.group(1)
    raise AssertionError("no code was sent")


def _card(colour: tuple[int, int, int], label: str) -> str:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (640, 400), colour)
    draw = ImageDraw.Draw(image)
    draw.rectangle((20, 20, 620, 380), outline=(255, 255, 255), width=4)
    draw.text((40, 40), f"SYNTHETIC HEALTH PLAN - {label}", fill=(255, 255, 255))
    draw.text((40, 90), "Member: Jordan Placeholder (synthetic)", fill=(255, 255, 255))
    draw.text((40, 130), "Member ID: DEMO-000-1234", fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()


TREATMENT_ACKS = (
    "nature_of_services",
    "confidentiality_limits",
    "records_and_access",
    "emergency_procedures",
    "right_to_withdraw",
    "questions_answered",
)

TELEHEALTH_ACKS = (
    "risks_and_limits",
    "private_location",
    "location_each_session",
    "technology_failure_plan",
    "no_recording",
    "may_decline",
)


def _sign_all(me: PatientIntake, signer: str, today: date) -> None:
    signature = {"signer_name": signer, "relationship": "self", "signed_on": today.isoformat()}
    contents: dict[str, dict[str, Any]] = {
        "treatment": {
            "acknowledgements": dict.fromkeys(TREATMENT_ACKS, True),
            "policy_version": "2026-01",
            "signature": signature,
        },
        "telehealth": {
            "acknowledgements": dict.fromkeys(TELEHEALTH_ACKS, True),
            "emergency_contact": {"name": "Sam Placeholder (synthetic)", "phone": "+15555550199"},
            "signature": signature,
        },
    }
    for key, content in contents.items():
        shown = me.form(key).document_hash
        assert shown is not None
        me.sign(key, content, signer, shown)


def intake(seed: DemoSeed) -> None:
    if not isinstance(seed.runtime.workflows, LocalWorkflows) or not isinstance(
        seed.runtime.notifier, OutboxNotifier
    ):
        return  # the demo intakes need tpm dev's workflow runner and outbox
    # The workflow's task handlers run in-process and take the installed runtime: this one.
    with runtime_installed(seed.runtime):
        _intakes(seed)


def _intakes(seed: DemoSeed) -> None:
    fields = {**TEMPLATE, "first_visit_service_id": seed.ids["svc_intake"]}
    template = IntakeTemplateService(seed.as_(Role.ADMIN)).save(None, 0, fields)
    seed.ids["intake_template"] = template.id
    runner = _runner(seed)
    desk = IntakeService(seed.as_(Role.FRONT_DESK))
    jordan_user = _portal_account(
        seed, "jordan", "jordan.placeholder@example.test", "Jordan Placeholder (synthetic)"
    )
    riley_user = _portal_account(
        seed, "riley", "riley.testcase@example.test", "Riley Testcase (synthetic)"
    )
    for key in ("morgan", "jordan", "riley"):
        seed.ids[f"intake_{key}"] = desk.start(seed.ids[key], template.id).id
    runner.run_until_idle()
    _progress(seed, runner, jordan_user, riley_user)


def _progress(seed: DemoSeed, runner: Any, jordan_user: str, riley_user: str) -> None:
    # Jordan: the whole packet, then it waits for the clinician's review.
    me = PatientIntake(seed.as_(Role.PATIENT, user_id=jordan_user, patient_id=seed.ids["jordan"]))
    me.verify_dob(date(1995, 9, 30))
    me.verify_code(_code(seed))
    runner.run_until_idle()
    registration = {
        "reason_for_seeking_care": "Trouble sleeping and worry about work (synthetic).",
        "symptom_duration": "1_to_6_months",
        "prior_therapy": False,
        "hopes_for_therapy": "Sleep through the night; feel less on edge.",
    }
    me.save_form("registration", registration, True, 0)
    phq9 = {
        "administered_on": seed.today.isoformat(),
        "respondent": "self",
        "answers": {f"item_{i}": v for i, v in enumerate([1, 2, 1, 2, 1, 1, 1, 0, 0], start=1)},
    }
    me.save_form("phq9", phq9, True, 0)
    runner.run_until_idle()
    _sign_all(me, "Jordan Placeholder", seed.today)
    runner.run_until_idle()
    me.upload_card("front", _card((30, 80, 140), "FRONT"))
    me.upload_card("back", _card((60, 60, 70), "BACK"))
    runner.run_until_idle()

    # Riley: five wrong dates of birth lock the identity check; the intake stalls.
    riley = PatientIntake(seed.as_(Role.PATIENT, user_id=riley_user, patient_id=seed.ids["riley"]))
    for _ in range(5):
        with contextlib.suppress(TpmError):
            riley.verify_dob(date(1979, 5, 1))
    runner.run_until_idle()

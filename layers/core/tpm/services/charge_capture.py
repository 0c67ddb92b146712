"""Charge capture: the interface between clinical documentation and billing.

When a note for a billable service becomes final (signed, or co-signed when its author
needs co-signature), `charge_ops` adds a ChargeEvent (CHARGE#…) to the SAME transaction
that locks the note: a final note without its charge, or a charge without its note, can
never be stored. The event carries billing facts only (service date, CPT lines with
units, minutes, place of service, clinician, patient, note and appointment ids) and, for
telehealth, the visit's mode, the patient's location attestation and default modifiers.

Billing consumes it with:

    pending_charges(ctx, limit, cursor)                  # oldest service date first
    charges_for_patient(ctx, patient_id, limit, cursor)
    ChargeRepository(store).with_status("pending", …)    # jobs (no caller to authorise)
    ChargeRepository.update_op(charge.model_copy(update={"status": "claimed", …}))
"""

from __future__ import annotations

from tpm.adapters.store.base import Operation
from tpm.domain.notes import ChargeEvent, Note, billing_lines, diagnoses_of, mode_of
from tpm.domain.telehealth import BillingFacts, billing_facts
from tpm.domain.template_models import Template
from tpm.ids import new_id
from tpm.repositories.charges import ChargeRepository
from tpm.repositories.visits import VisitRepository
from tpm.services.context import ServiceContext

KIND = "charge"


def telehealth_facts(
    ctx: ServiceContext, appointment_id: str | None, patient_id: str
) -> BillingFacts | None:
    """What the appointment's telehealth visit says about how the service was delivered
    (mode, the patient's location attestation, modifier 93 for audio-only), or None when
    no visit took place (docs/telehealth.md)."""
    if appointment_id is None:
        return None
    visits = VisitRepository(ctx.store, ctx.runtime.cipher)
    visit = visits.for_appointment(appointment_id)
    if visit is None or visit.started_at is None:
        return None
    return billing_facts(visit, visits.participant_of(visit.id, patient_id), ctx.now())


def charge_for(
    note: Note, template: Template, ctx: ServiceContext, location_kind: str | None = None
) -> ChargeEvent | None:
    """The charge a final note yields, or None (no CPT codes, no session block, or a
    session too short to bill). Diagnoses and the visit's mode travel with it."""
    lines = billing_lines(template, note.content)
    if not lines or note.service_date is None:
        return None
    facts = telehealth_facts(ctx, note.appointment_id, note.patient_id)
    telehealth: dict[str, object] = {}
    if facts is not None:
        telehealth = {
            "mode": facts.mode.value,
            "patient_location": facts.patient_location,
            "patient_state": facts.patient_state,
            "modifiers": facts.modifiers,
            "visit_id": facts.visit_id,
        }
    elif note.place_of_service == "11":
        telehealth = {"mode": "in_person"}
    else:
        # No visit took place: the note's own modality, else the appointment's location.
        mode = mode_of(note.content, location_kind)
        if mode is not None:
            telehealth = {"mode": mode}
    return ChargeEvent(
        id=new_id("chg"),
        note_id=note.id,
        patient_id=note.patient_id,
        clinician_id=note.author_id,
        service_date=note.service_date,
        lines=lines,
        minutes=note.minutes,
        place_of_service=note.place_of_service,
        appointment_id=note.appointment_id,
        created_at=ctx.now(),
        diagnoses=diagnoses_of(note.content),
        **telehealth,
    )


def charge_ops(
    ctx: ServiceContext, note: Note, template: Template, location_kind: str | None = None
) -> list[Operation]:
    charge = charge_for(note, template, ctx, location_kind)
    return [] if charge is None else [ChargeRepository.create_op(charge)]


def pending_charges(
    ctx: ServiceContext, limit: int, cursor: str | None
) -> tuple[list[ChargeEvent], str | None]:
    ctx.authorize_list("charge.read", resource_kind=KIND)
    charges, next_cursor = ChargeRepository(ctx.store).with_status("pending", limit, cursor)
    ctx.runtime.audit.record(
        ctx.store, ctx.event("charge.read", KIND, reason_code=f"count_{len(charges)}")
    )
    return charges, next_cursor


def charges_for_patient(
    ctx: ServiceContext, patient_id: str, limit: int, cursor: str | None
) -> tuple[list[ChargeEvent], str | None]:
    access = ctx.authorize(
        "charge.read", resource_kind=KIND, resource_id=patient_id, patient_id=patient_id
    )
    charges, next_cursor = ChargeRepository(ctx.store).for_patient(patient_id, limit, cursor)
    ctx.record(access, KIND, patient_id=patient_id, reason_code=f"count_{len(charges)}")
    return charges, next_cursor

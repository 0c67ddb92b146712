"""Gathers a patient's designated record set for the right of access (45 CFR 164.524):
the facts `tpm.domain.record_export` turns into a FHIR bundle and `tpm.services.record_pdf`
into a PDF. Reads through the repositories only; the caller (RightsService.give_access)
has authorised and audits the export. Psychotherapy notes are never read here."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from tpm.domain.notes import NoteStatus
from tpm.domain.record_export import (
    ConsentFacts,
    DocumentFacts,
    MeasureFacts,
    NoteFacts,
    PatientFacts,
    RecordSet,
    VisitFacts,
)
from tpm.domain.scheduling import LocationKind
from tpm.errors import NotFound
from tpm.repositories.appointments import AppointmentRepository
from tpm.repositories.catalogue import CatalogueRepository
from tpm.repositories.documents import DocumentRepository
from tpm.repositories.intake import IntakeRepository
from tpm.repositories.measures import MeasureRepository
from tpm.repositories.notes import NoteRepository
from tpm.repositories.part2 import Part2Repository
from tpm.repositories.patients import PatientRepository
from tpm.services.context import ServiceContext
from tpm.services.practices import get_practice
from tpm.services.templates import TemplateCatalog

_PAGE = 100
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)
FINAL_NOTES = frozenset({NoteStatus.SIGNED, NoteStatus.COSIGNED})


def _flatten(value: Any, path: str = "") -> list[str]:
    """A note's content as "section / field: value" lines, in the content's order."""
    if isinstance(value, dict):
        lines: list[str] = []
        for key, inner in value.items():
            label = str(key).replace("_", " ")
            lines += _flatten(inner, f"{path} / {label}" if path else label)
        return lines
    if value is None or value == "" or value == []:
        return []
    shown = json.dumps(value, ensure_ascii=False) if isinstance(value, list) else str(value)
    return [f"{path}: {shown}" if path else shown]


def gather_record_set(ctx: ServiceContext, patient_id: str) -> RecordSet:
    store, cipher = ctx.store, ctx.runtime.cipher
    patient = PatientRepository(store, cipher).get(patient_id)
    if patient is None:
        raise NotFound()
    names: dict[str, str] = {}

    def person(user_id: str) -> str:
        if user_id not in names:
            user = ctx.users.get(user_id)
            names[user_id] = user.display_name if user else "Practice staff"
        return names[user_id]

    catalogue = CatalogueRepository(store)
    services: dict[str, str] = {}

    def service(service_id: str) -> str:
        if service_id not in services:
            found = catalogue.service(service_id)
            services[service_id] = found.name if found else "Visit"
        return services[service_id]

    templates = TemplateCatalog(store)

    def title(template_id: str, version: int) -> str:
        try:
            return str(templates.resolve(template_id, version).title)
        except NotFound:
            return template_id

    visits: list[VisitFacts] = []
    appointments = AppointmentRepository(store, cipher)
    cursor: str | None = None
    while True:
        found, cursor = appointments.for_patient(patient_id, _EARLIEST, _LATEST, _PAGE, cursor)
        visits += [
            VisitFacts(
                id=a.id,
                status=a.status.value,
                start=a.start,
                end=a.end,
                telehealth=a.location_kind is LocationKind.TELEHEALTH,
                service=service(a.service_id),
                clinician=person(a.clinician_id),
            )
            for a in found
        ]
        if cursor is None:
            break

    notes_repo = NoteRepository(store, cipher)
    notes: list[NoteFacts] = []
    cursor = None
    while True:
        page, cursor = notes_repo.for_patient(patient_id, _PAGE, cursor)
        for note in page:
            if note.status not in FINAL_NOTES or note.signature is None:
                continue
            lines = _flatten(note.content)
            for addendum in notes_repo.addenda(note.id):
                signed = f"{addendum.signature.signed_at:%Y-%m-%d}"
                lines.append(f"Addendum {addendum.n} ({signed}): {addendum.text}")
            notes.append(
                NoteFacts(
                    id=note.id,
                    title=title(note.template_id, note.template_version),
                    signed_at=note.signature.signed_at,
                    author=" ".join(
                        x for x in (note.signature.display_name, note.signature.credentials) if x
                    ),
                    text="\n".join(lines),
                )
            )
        if cursor is None:
            break
    notes.sort(key=lambda n: n.signed_at)

    documents_repo = DocumentRepository(store, cipher)
    documents: list[DocumentFacts] = []
    cursor = None
    while True:
        docs, cursor = documents_repo.for_patient(
            patient_id, shared_only=False, limit=_PAGE, cursor=cursor
        )
        documents += [
            DocumentFacts(
                id=d.id,
                title=d.title,
                filename=d.filename,
                content_type=d.content_type,
                created_at=d.created_at,
                data=ctx.runtime.files.get(ctx.practice_id, d.id),
            )
            for d in docs
        ]
        if cursor is None:
            break

    measures_repo = MeasureRepository(store, cipher)
    template_ids: set[str] = set()
    cursor = None
    while True:
        requests, cursor = measures_repo.requests_for(
            patient_id, open_only=False, limit=_PAGE, cursor=cursor
        )
        template_ids |= {r.template_id for r in requests}
        if cursor is None:
            break
    measures = [
        MeasureFacts(
            id=r.id,
            template_id=r.template_id,
            title=title(r.template_id, r.template_version),
            completed_at=r.completed_at,
            total=r.total,
            band=r.band,
        )
        for tid in sorted(template_ids)
        for r in measures_repo.series(patient_id, tid)
    ]
    measures.sort(key=lambda m: m.completed_at)

    zone = get_practice(ctx.runtime.store, ctx.practice_id).zone
    today: date = ctx.now().astimezone(zone).date()
    consents = [
        ConsentFacts(id=c.id, title=c.title, signed_at=c.signed_at, active=c.revoked_at is None)
        for c in IntakeRepository(store, cipher).consents_for(patient_id)
    ]
    consents += [
        ConsentFacts(
            id=c.id,
            title=f"42 CFR Part 2 consent: {c.disclosing_program}",
            signed_at=c.recorded_at,
            active=c.active(today),
            part2=True,
        )
        for c in Part2Repository(store, cipher).consents(patient_id)
    ]
    return RecordSet(
        practice_name=get_practice(ctx.runtime.store, ctx.practice_id).name,
        generated_at=ctx.now(),
        patient=PatientFacts(
            id=patient.id,
            first_name=patient.legal_first_name,
            last_name=patient.legal_last_name,
            preferred_name=patient.preferred_name,
            date_of_birth=patient.date_of_birth,
            email=str(patient.email) if patient.email else None,
            phone=str(patient.phone) if patient.phone else None,
            address=patient.address.model_dump() if patient.address else None,
        ),
        visits=sorted(visits, key=lambda v: v.start),
        notes=notes,
        documents=sorted(documents, key=lambda d: d.created_at),
        measures=measures,
        consents=consents,
    )

"""Clinical notes: write from a template, autosave (each save a version), sign with an
attestation, amend only by signed addenda, read (content for the care team, billing facts
for billers), history, field-level diff and hash verification.

Supervision (co-signature) lives in tpm.services.note_supervision, charge capture in
tpm.services.charge_capture, psychotherapy notes in tpm.services.psychotherapy_notes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

from tpm.adapters.store.base import ConditionFailed, Operation
from tpm.clock import to_rfc3339
from tpm.domain.notes import (
    ADDENDUM_ATTESTATION,
    ATTESTATION,
    GENESIS,
    Addendum,
    Change,
    Note,
    NoteStatus,
    NoteVersion,
    Signature,
    VersionCheck,
    VersionEvent,
    billing_lines,
    check_versions,
    content_hash,
    diff,
    is_late_entry,
    make_version,
    minutes_of,
    place_of_service,
    service_date_of,
    text_hash,
)
from tpm.domain.scheduling import Appointment
from tpm.domain.template_models import FieldError, Template
from tpm.domain.templates import missing_at_signing, validate_content
from tpm.errors import Conflict, Forbidden, NotFound, ValidationFailed, VersionConflict
from tpm.ids import new_id
from tpm.repositories.appointments import AppointmentRepository
from tpm.repositories.notes import NoteRepository
from tpm.repositories.patients import PatientRepository
from tpm.security.audit_chain import Outcome
from tpm.security.policy import Access, Scope
from tpm.services.charge_capture import charge_ops, telehealth_facts
from tpm.services.context import ServiceContext
from tpm.services.note_pdf import render_note_pdf
from tpm.services.practices import get_practice
from tpm.services.templates import TemplateCatalog

KIND = "note"


class NoteLocked(Conflict):
    code = "note_locked"
    message = "The note is signed; amend it with an addendum."


class InvalidNoteState(Conflict):
    code = "invalid_note_state"
    message = "The note is not in a state that allows this."


@dataclass(frozen=True)
class NoteRead:
    note: Note
    addenda: list[Addendum]
    content_visible: bool  # False: billing facts only (the caller may not read content)


@dataclass(frozen=True)
class VersionEntry:
    n: int
    event: str
    at: str
    by: str
    content_hash: str
    chain_hash: str


@dataclass(frozen=True)
class Verification:
    valid: bool
    versions: list[VersionCheck]
    unreadable_versions: list[int]
    signature_valid: bool | None
    cosignature_valid: bool | None
    addenda_valid: list[bool]


def content_errors(errors: list[FieldError]) -> ValidationFailed:
    """Field errors inside `content` as a 422 (paths and types only, never values)."""
    return ValidationFailed(
        fields=[{"path": f"body.content{e.path}", "type": e.type} for e in errors]
    )


class NoteAccess:
    """The load-and-authorise steps every note route shares."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.notes = NoteRepository(ctx.store, ctx.runtime.cipher)

    def holds(self, action: str) -> bool:
        return bool(self.ctx.authorizer.table.scopes(self.ctx.principal.roles, action))

    def load(self, action: str, note_id: str) -> tuple[Access, Note]:
        """Role check (403), the note (404), its patient relationship (404) and, for a
        supervisor reaching it through supervision, that a supervisee wrote it (404)."""
        ctx = self.ctx
        ctx.authorize_list(action, resource_kind=KIND)
        note = self.notes.get(note_id)
        if note is None:
            raise NotFound()
        access = ctx.authorize(
            action, resource_kind=KIND, resource_id=note_id, patient_id=note.patient_id
        )
        if access.scope is Scope.SUPERVISEES and not self.supervises(note.author_id):
            self.deny(action, note, "not_supervisee")
        return access, note

    def supervises(self, author_id: str) -> bool:
        return self.ctx.principal.user_id in self.ctx.users.supervisors_of(author_id)

    def deny(self, action: str, note: Note, reason: str) -> NoReturn:
        ctx = self.ctx
        ctx.runtime.audit.record(
            ctx.store,
            ctx.event(
                action,
                KIND,
                note.id,
                patient_id=note.patient_id,
                outcome=Outcome.DENIED,
                reason_code=reason,
            ),
        )
        raise NotFound()

    def template(self, note: Note) -> Template:
        # The practice's own templates as well as the library: the exact version written.
        return TemplateCatalog(self.ctx.store).get(note.template_id, note.template_version)

    def signature(self, note: Note, n: int, attestation: str) -> Signature:
        ctx = self.ctx
        signer = ctx.users.get(ctx.principal.user_id)
        return Signature(
            signer_id=ctx.principal.user_id,
            display_name=signer.display_name if signer else ctx.principal.display_name,
            credentials=signer.credentials if signer else "",
            signed_at=ctx.now(),
            content_hash=note.content_hash,
            version=n,
            attestation=attestation,
        )

    def next_version(self, note: Note, event: VersionEvent, content: dict[str, Any]) -> NoteVersion:
        now = self.ctx.now()
        return make_version(
            note.id,
            note.version + 1,
            event,
            now,
            to_rfc3339(now),
            self.ctx.principal.user_id,
            note.template_id,
            note.template_version,
            content,
            note.chain_hash,
        )

    def commit(
        self,
        access: Access,
        note: Note,
        changed: Note,
        version: NoteVersion,
        extra: list[Operation] | None = None,
        reason: str | None = None,
    ) -> None:
        ops = [*self.notes.update_ops(changed, version), *(extra or [])]
        try:
            self.ctx.write(
                access,
                lambda: list(ops),
                KIND,
                note.id,
                patient_id=note.patient_id,
                reason_code=reason,
            )
        except ConditionFailed as exc:
            current = self.notes.get(note.id)
            raise VersionConflict(
                current_version=current.version if current else exc.current_version
            ) from exc

    def appointment(self, note: Note) -> Appointment | None:
        if note.appointment_id is None:
            return None
        return AppointmentRepository(self.ctx.store, self.ctx.runtime.cipher).get(
            note.appointment_id
        )


def check_version(note: Note, version: int) -> None:
    if note.version != version:
        raise VersionConflict(current_version=note.version)


class NoteService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.access = NoteAccess(ctx)
        self.notes = self.access.notes

    # ---- writing ----------------------------------------------------------------------

    def create(
        self,
        patient_id: str,
        template_id: str,
        template_version: int | None,
        appointment_id: str | None,
        content: dict[str, Any],
    ) -> Note:
        ctx = self.ctx
        access = ctx.authorize(
            "note.create", resource_kind=KIND, resource_id=patient_id, patient_id=patient_id
        )
        if PatientRepository(ctx.store, ctx.runtime.cipher).get(patient_id) is None:
            raise NotFound()
        template = _template(TemplateCatalog(ctx.store), template_id, template_version)
        if appointment_id is not None:
            appt = AppointmentRepository(ctx.store, ctx.runtime.cipher).get(appointment_id)
            if appt is None or patient_id not in appt.patient_ids:
                raise ValidationFailed(
                    fields=[{"path": "body.appointment_id", "type": "unknown_appointment"}]
                )
        errors = validate_content(template, content, partial=True)
        if errors:
            raise content_errors(errors)
        now = ctx.now()
        note_id = new_id("note")
        first = make_version(
            note_id,
            1,
            VersionEvent.CREATED,
            now,
            to_rfc3339(now),
            ctx.principal.user_id,
            template.id,
            template.version,
            content,
            GENESIS,
        )
        note = Note(
            id=note_id,
            patient_id=patient_id,
            author_id=ctx.principal.user_id,
            template_id=template.id,
            template_version=template.version,
            appointment_id=appointment_id,
            content=content,
            content_hash=first.content_hash,
            chain_hash=first.chain_hash,
            created_at=now,
            updated_at=now,
        )
        ctx.write(
            access,
            lambda: self.notes.create_ops(note, first),
            KIND,
            note.id,
            patient_id=patient_id,
        )
        return note

    def save(self, note_id: str, version: int, content: dict[str, Any]) -> Note:
        """Autosave: a new version with the whole content (drafts may be incomplete,
        never malformed)."""
        access, note = self.access.load("note.update", note_id)
        self._author_only(note)
        if note.locked:
            raise NoteLocked(current_status=note.status.value)
        check_version(note, version)
        errors = validate_content(self.access.template(note), content, partial=True)
        if errors:
            raise content_errors(errors)
        row = self.access.next_version(note, VersionEvent.SAVED, content)
        changed = note.model_copy(
            update={
                "content": content,
                "content_hash": row.content_hash,
                "chain_hash": row.chain_hash,
                "updated_at": self.ctx.now(),
                "version": row.n,
            }
        )
        self.access.commit(access, note, changed, row)
        return changed

    def sign(self, note_id: str, version: int) -> Note:
        """Required fields, full validation, the signature block; then locked. A note by
        someone who needs co-signature goes to their supervisors' queue instead of
        becoming final; a final note for a billable service emits a charge."""
        ctx = self.ctx
        access, note = self.access.load("note.sign", note_id)
        self._author_only(note)
        if note.locked:
            raise NoteLocked(current_status=note.status.value)
        check_version(note, version)
        template = self.access.template(note)
        missing = missing_at_signing(template, note.content)
        if missing:
            raise ValidationFailed(
                "Fill in the required fields before signing.",
                fields=[
                    {"path": f"body.content{path}", "type": "required_at_signing"}
                    for path in missing
                ],
            )
        errors = validate_content(template, note.content)
        if errors:
            raise content_errors(errors)
        supervisors = self._cosigners(note.author_id)
        practice = get_practice(ctx.runtime.store, ctx.practice_id)
        appt = self.access.appointment(note)
        service_date = service_date_of(
            note.content, appt.start if appt else None, practice.zone, ctx.now()
        )
        hours = practice.settings.late_entry_hours
        row = self.access.next_version(note, VersionEvent.SIGNED, note.content)
        facts = telehealth_facts(ctx, note.appointment_id, note.patient_id)
        changed = note.model_copy(
            update={
                "status": NoteStatus.PENDING_COSIGN if supervisors else NoteStatus.SIGNED,
                "signature": self.access.signature(note, row.n, ATTESTATION),
                "chain_hash": row.chain_hash,
                "service_date": service_date,
                "late_entry": is_late_entry(
                    service_date, appt.end if appt else None, ctx.now(), practice.zone, hours
                ),
                "cpt_codes": tuple(line.cpt_code for line in billing_lines(template, note.content)),
                "minutes": minutes_of(note.content),
                "place_of_service": place_of_service(
                    note.content,
                    appt.location_kind.value if appt else None,
                    facts.place_of_service if facts else None,
                ),
                "return_comments": None,
                "updated_at": ctx.now(),
                "version": row.n,
            }
        )
        if supervisors:
            extra = self.notes.queue_ops(supervisors, changed, ctx.now())
        else:
            kind = appt.location_kind.value if appt else None
            extra = charge_ops(ctx, changed, template, kind)
        self.access.commit(
            access,
            note,
            changed,
            row,
            extra,
            reason="late_entry" if changed.late_entry else None,
        )
        return changed

    def add_addendum(self, note_id: str, text: str) -> Addendum:
        """An amendment to a signed note: its own signed, hashed record linked to the note;
        the note's content never changes."""
        access, note = self.access.load("note.addendum", note_id)
        if not note.locked:
            raise InvalidNoteState(
                "A draft is edited, not amended.", current_status=note.status.value
            )
        row = self.access.next_version(note, VersionEvent.ADDENDED, note.content)
        n = note.addenda_count + 1
        addendum = Addendum(
            id=new_id("add"),
            note_id=note.id,
            n=n,
            text=text,
            text_hash=text_hash(note.id, n, text),
            signature=self.access.signature(note, row.n, ADDENDUM_ATTESTATION).model_copy(
                update={"content_hash": text_hash(note.id, n, text)}
            ),
        )
        changed = note.model_copy(
            update={
                "addenda_count": n,
                "chain_hash": row.chain_hash,
                "updated_at": self.ctx.now(),
                "version": row.n,
            }
        )
        self.access.commit(
            access, note, changed, row, [self.notes.addendum_op(addendum)], reason="addendum"
        )
        return addendum

    # ---- reading ----------------------------------------------------------------------

    def get(self, note_id: str) -> NoteRead:
        """Content for roles that read notes; billing facts only for billers."""
        action = "note.read"
        if not self.access.holds("note.read") and self.access.holds("note.billing.read"):
            action = "note.billing.read"
        access, note = self.access.load(action, note_id)
        visible = action == "note.read"
        addenda = self.notes.addenda(note.id) if visible else []
        self.ctx.record(access, KIND, note.id, patient_id=note.patient_id)
        return NoteRead(note, addenda, visible)

    def list_for_patient(
        self, patient_id: str, limit: int, cursor: str | None
    ) -> tuple[list[Note], str | None]:
        """Summaries (never content). Supervisors reaching the patient through
        supervision see only the notes their supervisees wrote."""
        ctx = self.ctx
        access = ctx.authorize(
            "note.list", resource_kind=KIND, resource_id=patient_id, patient_id=patient_id
        )
        if PatientRepository(ctx.store, ctx.runtime.cipher).get(patient_id) is None:
            raise NotFound()
        notes, next_cursor = self.notes.for_patient(patient_id, limit, cursor)
        if access.scope is Scope.SUPERVISEES:
            mine = set(ctx.users.supervisees_of(ctx.principal.user_id))
            notes = [n for n in notes if n.author_id in mine]
        ctx.record(access, KIND, patient_id=patient_id, reason_code=f"count_{len(notes)}")
        return notes, next_cursor

    def versions(self, note_id: str) -> list[VersionEntry]:
        access, note = self.access.load("note.history.read", note_id)
        entries = [
            VersionEntry(
                n=s.n,
                event=s.version.event.value if s.version else "unreadable",
                at=s.at_text,
                by=s.version.by if s.version else "",
                content_hash=s.version.content_hash if s.version else "",
                chain_hash=s.version.chain_hash if s.version else "",
            )
            for s in self.notes.versions(note.id)
        ]
        self.ctx.record(access, KIND, note.id, patient_id=note.patient_id, reason_code="history")
        return entries

    def diff(self, note_id: str, start: int, end: int) -> tuple[list[Change], bool]:
        """Field-level changes between two versions; values only for a caller who may
        read the note's content (compliance sees paths only)."""
        access, note = self.access.load("note.history.read", note_id)
        before = self.notes.version(note.id, start)
        after = self.notes.version(note.id, end)
        if before is None or after is None:
            raise ValidationFailed(
                fields=[
                    {"path": f"query.{name}", "type": "no_such_version"}
                    for name, found in (("from", before), ("to", after))
                    if found is None
                ]
            )
        with_values = self._may_read_content(note)
        changes = diff(before.content, after.content)
        if not with_values:
            changes = [Change(c.path, c.op) for c in changes]
        self.ctx.record(access, KIND, note.id, patient_id=note.patient_id, reason_code="diff")
        return changes, with_values

    def verify(self, note_id: str) -> Verification:
        """Recompute every hash: each version's content hash and chain link, the
        signatures against the versions they signed, each addendum's text hash."""
        access, note = self.access.load("note.verify", note_id)
        stored = self.notes.versions(note.id)
        readable = [s.version for s in stored if s.version is not None]
        checks = check_versions(readable, {s.n: s.at_text for s in stored})
        by_n = {v.n: v for v in readable}
        ok = {c.n: c.content_ok and c.chain_ok for c in checks}
        latest_ok = (
            bool(readable)
            and max(by_n) == note.version
            and (by_n[note.version].chain_hash == note.chain_hash)
        )
        signature_ok = _signature_ok(note.signature, by_n, ok)
        cosignature_ok = _signature_ok(note.cosignature, by_n, ok)
        addenda_ok = [
            a.text_hash == text_hash(note.id, a.n, a.text) == a.signature.content_hash
            for a in self.notes.addenda(note.id)
        ]
        unreadable = [s.n for s in stored if s.version is None]
        valid = (
            not unreadable
            and latest_ok
            and all(ok.values())
            and signature_ok is not False
            and cosignature_ok is not False
            and all(addenda_ok)
            and content_hash(note.template_id, note.template_version, note.content)
            == note.content_hash
        )
        self.ctx.record(
            access,
            KIND,
            note.id,
            patient_id=note.patient_id,
            reason_code="verified" if valid else "verify_failed",
        )
        return Verification(valid, checks, unreadable, signature_ok, cosignature_ok, addenda_ok)

    def pdf(self, note_id: str) -> tuple[Note, bytes]:
        """A signed note rendered for release (signature block, addenda, template)."""
        ctx = self.ctx
        access, note = self.access.load("note.pdf", note_id)
        if not note.locked:
            raise InvalidNoteState(
                "Only a signed note is released.", current_status=note.status.value
            )
        patient = PatientRepository(ctx.store, ctx.runtime.cipher).get(note.patient_id)
        if patient is None:
            raise NotFound()
        data = render_note_pdf(
            note,
            self.access.template(note),
            self.notes.addenda(note.id),
            f"{patient.legal_first_name} {patient.legal_last_name}",
            patient.date_of_birth,
        )
        ctx.record(access, KIND, note.id, patient_id=note.patient_id, reason_code="pdf")
        return note, data

    # ---- helpers ------------------------------------------------------------------------

    def _author_only(self, note: Note) -> None:
        if note.author_id != self.ctx.principal.user_id:
            raise Forbidden("Only the note's author can change or sign it.")

    def _cosigners(self, author_id: str) -> list[str]:
        """Who must co-sign: the author's supervisors, when the author is marked as
        requiring co-signature (see docs/data-model.md, Notes)."""
        if not self.notes.cosign_required(author_id):
            return []
        return self.ctx.users.supervisors_of(author_id)

    def _may_read_content(self, note: Note) -> bool:
        ctx = self.ctx
        if not self.access.holds("note.read"):
            return False
        try:
            access = ctx.authorizer.check(
                ctx.principal, "note.read", patient_id=note.patient_id, now=ctx.now()
            )
        except (Forbidden, NotFound):
            return False
        return access.scope is not Scope.SUPERVISEES or self.access.supervises(note.author_id)


def _template(catalog: TemplateCatalog, template_id: str, version: int | None) -> Template:
    try:
        return catalog.resolve(template_id, version)
    except NotFound:
        raise ValidationFailed(
            fields=[{"path": "body.template_id", "type": "no_such_template"}]
        ) from None


def _signature_ok(
    signature: Signature | None, by_n: dict[int, NoteVersion], ok: dict[int, bool]
) -> bool | None:
    if signature is None:
        return None
    signed = by_n.get(signature.version)
    return (
        signed is not None
        and ok.get(signed.n, False)
        and (signed.content_hash == signature.content_hash)
    )

"""Clinical notes: write from a template, autosave, sign, addenda, history, diff and hash
verification; supervision co-signature; charge capture; psychotherapy notes."""

from __future__ import annotations

import base64
from datetime import date, datetime
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, Field

from tpm.api.app import create_app, lambda_entry
from tpm.api.context import Cursor, Limit, service_context
from tpm.api.idempotency import idempotent
from tpm.api.models import RequestModel
from tpm.api.responses import NO_CONTENT_DOC, created, created_doc, no_content
from tpm.api.views import Page
from tpm.domain.notes import Addendum, ChargeEvent, Note, PsychotherapyNote, Signature
from tpm.services.charge_capture import pending_charges
from tpm.services.note_supervision import SupervisionService
from tpm.services.notes import NoteRead, NoteService
from tpm.services.psychotherapy_notes import PsychotherapyNoteService

app = create_app("notes")
TAGS = ["notes"]
PATIENT_ID = r"^pat_[0-9a-z]{26}$"
USER_ID = r"^usr_[0-9a-z]{26}$"
VersionNumber = Annotated[int, Query(ge=1, description="A version number (1 = created).")]


# ---- requests ---------------------------------------------------------------------------


class NoteIn(RequestModel):
    patient_id: str = Field(pattern=PATIENT_ID)
    template_id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    template_version: int | None = Field(
        default=None, ge=1, description="Omit for the latest; the note keeps this exact version."
    )
    appointment_id: str | None = Field(default=None, pattern=r"^apt_[0-9a-z]{26}$")
    content: dict[str, Any] = Field(default_factory=dict)


class NotePatchIn(RequestModel):
    """Autosave: the whole content as it is now (each save is a new version)."""

    content: dict[str, Any]
    version: int = Field(ge=1, description="The version you loaded (409 if it changed).")


class SignIn(RequestModel):
    version: int = Field(ge=1)
    attestation: Literal[True] = Field(description="You attest the note is accurate.")


class AddendumIn(RequestModel):
    text: str = Field(min_length=1, max_length=20_000)


class NoteVersionIn(RequestModel):
    version: int = Field(ge=1)


class ReturnIn(RequestModel):
    version: int = Field(ge=1)
    comments: str = Field(min_length=1, max_length=4000)


class CosignRequirementIn(RequestModel):
    user_id: str = Field(pattern=USER_ID)
    required: bool


class PsychotherapyNoteIn(RequestModel):
    patient_id: str = Field(pattern=PATIENT_ID)
    text: str = Field(min_length=1, max_length=50_000)


class GrantIn(RequestModel):
    user_id: str = Field(pattern=USER_ID)


# ---- views ------------------------------------------------------------------------------


class SignatureView(BaseModel):
    signer_id: str
    display_name: str
    credentials: str
    signed_at: datetime
    content_hash: str
    version: int
    attestation: str

    @classmethod
    def of(cls, s: Signature | None) -> SignatureView | None:
        return None if s is None else cls.model_validate(s.model_dump())


class AddendumView(BaseModel):
    id: str
    n: int
    text: str
    text_hash: str
    signature: SignatureView

    @classmethod
    def of(cls, a: Addendum) -> AddendumView:
        signature = SignatureView.of(a.signature)
        assert signature is not None
        return cls(id=a.id, n=a.n, text=a.text, text_hash=a.text_hash, signature=signature)


class NoteView(BaseModel):
    """A note with its content (care team, supervisors of its author)."""

    id: str
    patient_id: str
    author_id: str
    template_id: str
    template_version: int
    appointment_id: str | None
    status: str
    content: dict[str, Any]
    content_hash: str
    created_at: datetime
    updated_at: datetime
    service_date: date | None
    late_entry: bool
    signature: SignatureView | None
    cosignature: SignatureView | None
    return_comments: str | None
    addenda: list[AddendumView]
    cpt_codes: list[str]
    minutes: int | None
    place_of_service: str | None
    version: int

    @classmethod
    def of(cls, note: Note, addenda: list[Addendum] | None = None) -> NoteView:
        data = note.model_dump(exclude={"signature", "cosignature", "addenda_count", "chain_hash"})
        return cls.model_validate(
            data
            | {
                "signature": SignatureView.of(note.signature),
                "cosignature": SignatureView.of(note.cosignature),
                "addenda": [AddendumView.of(a) for a in addenda or []],
                "cpt_codes": list(note.cpt_codes),
            }
        )


class NoteBillingView(BaseModel):
    """That a note exists and its billing facts; never content (minimum necessary)."""

    id: str
    patient_id: str
    clinician_id: str
    appointment_id: str | None
    status: str
    service_date: date | None
    signed_at: datetime | None
    cpt_codes: list[str]
    minutes: int | None
    place_of_service: str | None
    version: int

    @classmethod
    def of(cls, note: Note) -> NoteBillingView:
        return cls(
            id=note.id,
            patient_id=note.patient_id,
            clinician_id=note.author_id,
            appointment_id=note.appointment_id,
            status=note.status.value,
            service_date=note.service_date,
            signed_at=note.signature.signed_at if note.signature else None,
            cpt_codes=list(note.cpt_codes),
            minutes=note.minutes,
            place_of_service=note.place_of_service,
            version=note.version,
        )


def note_out(read: NoteRead) -> NoteView | NoteBillingView:
    if read.content_visible:
        return NoteView.of(read.note, read.addenda)
    return NoteBillingView.of(read.note)


class AddendumOut(BaseModel):
    id: str
    note_id: str
    n: int
    text_hash: str
    signature: SignatureView


class VersionView(BaseModel):
    n: int
    event: str
    at: str
    by: str
    content_hash: str
    chain_hash: str


class ChangeView(BaseModel):
    path: str
    op: str
    before: Any = None
    after: Any = None


class DiffOut(BaseModel):
    from_version: int
    to_version: int
    values_included: bool
    changes: list[ChangeView]


class VersionCheckView(BaseModel):
    n: int
    content_ok: bool
    chain_ok: bool


class NoteVerifyOut(BaseModel):
    valid: bool
    versions: list[VersionCheckView]
    unreadable_versions: list[int]
    signature_valid: bool | None
    cosignature_valid: bool | None
    addenda_valid: list[bool]


class ChargeLineView(BaseModel):
    cpt_code: str
    units: int


class ChargeView(BaseModel):
    id: str
    note_id: str
    patient_id: str
    clinician_id: str
    service_date: date
    lines: list[ChargeLineView]
    minutes: int | None
    place_of_service: str | None
    appointment_id: str | None
    status: str
    created_at: datetime
    mode: str | None = Field(description="in_person, video or audio_only (telehealth visit)")
    patient_location: str | None = Field(description="home or other (the patient's attestation)")
    patient_state: str | None
    modifiers: list[str] = Field(description="Default modifiers (93: audio-only)")
    visit_id: str | None
    diagnoses: list[str] = Field(description="ICD-10-CM codes from the note, principal first")
    claim_id: str | None = Field(description="The claim this charge is on, once claimed")

    @classmethod
    def of(cls, c: ChargeEvent) -> ChargeView:
        return cls.model_validate(c.model_dump(exclude={"version"}))


class PsychotherapyNoteView(BaseModel):
    id: str
    patient_id: str
    author_id: str
    text: str
    created_at: datetime

    @classmethod
    def of(cls, n: PsychotherapyNote) -> PsychotherapyNoteView:
        return cls.model_validate(n.model_dump(exclude={"version"}))


# ---- notes ------------------------------------------------------------------------------


@app.post(
    "/v1/notes",
    summary="Start a note from a template",
    tags=TAGS,
    responses=created_doc(NoteView),
    middlewares=[idempotent],
)
def create_note(body: NoteIn) -> Response[str]:
    note = NoteService(service_context(app)).create(
        body.patient_id, body.template_id, body.template_version, body.appointment_id, body.content
    )
    return created(NoteView.of(note), f"/v1/notes/{note.id}")


@app.get("/v1/notes/<noteId>", summary="A note (billing facts only for billers)", tags=TAGS)
def get_note(noteId: str) -> NoteView | NoteBillingView:  # noqa: N803
    return note_out(NoteService(service_context(app)).get(noteId))


@app.patch("/v1/notes/<noteId>", summary="Autosave a draft (each save is a version)", tags=TAGS)
def save_note(noteId: str, body: NotePatchIn) -> NoteView:  # noqa: N803
    return NoteView.of(NoteService(service_context(app)).save(noteId, body.version, body.content))


@app.post("/v1/notes/<noteId>/sign", summary="Sign a note (it is locked afterwards)", tags=TAGS)
def sign_note(noteId: str, body: SignIn) -> NoteView:  # noqa: N803
    return NoteView.of(NoteService(service_context(app)).sign(noteId, body.version))


@app.post(
    "/v1/notes/<noteId>/addenda",
    summary="Amend a signed note with a signed addendum",
    tags=TAGS,
    responses=created_doc(AddendumOut),
    middlewares=[idempotent],
)
def add_addendum(noteId: str, body: AddendumIn) -> Response[str]:  # noqa: N803
    a = NoteService(service_context(app)).add_addendum(noteId, body.text)
    signature = SignatureView.of(a.signature)
    assert signature is not None
    out = AddendumOut(id=a.id, note_id=a.note_id, n=a.n, text_hash=a.text_hash, signature=signature)
    return created(out, f"/v1/notes/{noteId}")


@app.get("/v1/notes/<noteId>/versions", summary="A note's version history", tags=TAGS)
def note_versions(noteId: str) -> list[VersionView]:  # noqa: N803
    entries = NoteService(service_context(app)).versions(noteId)
    return [VersionView.model_validate(e.__dict__) for e in entries]


@app.get("/v1/notes/<noteId>/diff", summary="Field-level changes between two versions", tags=TAGS)
def note_diff(
    noteId: str,  # noqa: N803
    start: Annotated[int, Query(alias="from", ge=1)],
    end: Annotated[int, Query(alias="to", ge=1)],
) -> DiffOut:
    changes, with_values = NoteService(service_context(app)).diff(noteId, start, end)
    return DiffOut(
        from_version=start,
        to_version=end,
        values_included=with_values,
        changes=[ChangeView.model_validate(c.__dict__) for c in changes],
    )


@app.post("/v1/notes/<noteId>/verify", summary="Recompute and check a note's hashes", tags=TAGS)
def verify_note(noteId: str) -> NoteVerifyOut:  # noqa: N803
    result = NoteService(service_context(app)).verify(noteId)
    return NoteVerifyOut(
        valid=result.valid,
        versions=[VersionCheckView.model_validate(c.__dict__) for c in result.versions],
        unreadable_versions=result.unreadable_versions,
        signature_valid=result.signature_valid,
        cosignature_valid=result.cosignature_valid,
        addenda_valid=result.addenda_valid,
    )


class NotePdfOut(BaseModel):
    filename: str
    content_type: str
    size_bytes: int
    content_base64: str


@app.get("/v1/notes/<noteId>/pdf", summary="A signed note as PDF, base64 in JSON", tags=TAGS)
def note_pdf(noteId: str) -> NotePdfOut:  # noqa: N803
    note, data = NoteService(service_context(app)).pdf(noteId)
    return NotePdfOut(
        filename=f"{note.id}.pdf",
        content_type="application/pdf",
        size_bytes=len(data),
        content_base64=base64.b64encode(data).decode("ascii"),
    )


@app.get("/v1/patients/<patientId>/notes", summary="A patient's notes (summaries)", tags=TAGS)
def list_notes(
    patientId: str,  # noqa: N803
    limit: Limit = 25,
    cursor: Cursor = None,
) -> Page[NoteBillingView]:
    notes, next_cursor = NoteService(service_context(app)).list_for_patient(
        patientId, limit, cursor
    )
    return Page[NoteBillingView](
        items=[NoteBillingView.of(n) for n in notes], next_cursor=next_cursor
    )


# ---- supervision ------------------------------------------------------------------------


@app.get("/v1/supervision/queue", summary="Notes waiting for my co-signature", tags=TAGS)
def supervision_queue(limit: Limit = 25, cursor: Cursor = None) -> Page[NoteBillingView]:
    notes, next_cursor = SupervisionService(service_context(app)).queue(limit, cursor)
    return Page[NoteBillingView](
        items=[NoteBillingView.of(n) for n in notes], next_cursor=next_cursor
    )


@app.post("/v1/notes/<noteId>/cosign", summary="Co-sign a supervisee's note", tags=TAGS)
def cosign_note(noteId: str, body: NoteVersionIn) -> NoteView:  # noqa: N803
    return NoteView.of(SupervisionService(service_context(app)).cosign(noteId, body.version))


@app.post("/v1/notes/<noteId>/return", summary="Return a note to its author", tags=TAGS)
def return_note(noteId: str, body: ReturnIn) -> NoteView:  # noqa: N803
    service = SupervisionService(service_context(app))
    return NoteView.of(service.return_note(noteId, body.version, body.comments))


@app.post(
    "/v1/supervision/cosign-requirements",
    summary="Mark whether a clinician's notes need co-signature",
    tags=TAGS,
    responses=NO_CONTENT_DOC,
)
def set_cosign_requirement(body: CosignRequirementIn) -> Response[str]:
    SupervisionService(service_context(app)).set_cosign_requirement(body.user_id, body.required)
    return no_content()


# ---- charge capture ---------------------------------------------------------------------


@app.get("/v1/charges", summary="Charge-capture events (billing facts)", tags=TAGS)
def list_charges(
    status: Annotated[Literal["pending"], Query()] = "pending",
    limit: Limit = 25,
    cursor: Cursor = None,
) -> Page[ChargeView]:
    charges, next_cursor = pending_charges(service_context(app), limit, cursor)
    return Page[ChargeView](items=[ChargeView.of(c) for c in charges], next_cursor=next_cursor)


# ---- psychotherapy notes ----------------------------------------------------------------


@app.post(
    "/v1/psychotherapy-notes",
    summary="Write a psychotherapy note (kept apart from the record)",
    tags=TAGS,
    responses=created_doc(PsychotherapyNoteView),
    middlewares=[idempotent],
)
def create_psychotherapy_note(body: PsychotherapyNoteIn) -> Response[str]:
    note = PsychotherapyNoteService(service_context(app)).create(body.patient_id, body.text)
    return created(PsychotherapyNoteView.of(note), f"/v1/psychotherapy-notes/{note.id}")


@app.get("/v1/psychotherapy-notes", summary="My psychotherapy notes", tags=TAGS)
def my_psychotherapy_notes(limit: Limit = 25, cursor: Cursor = None) -> Page[PsychotherapyNoteView]:
    notes, next_cursor = PsychotherapyNoteService(service_context(app)).mine(limit, cursor)
    return Page[PsychotherapyNoteView](
        items=[PsychotherapyNoteView.of(n) for n in notes], next_cursor=next_cursor
    )


@app.get(
    "/v1/psychotherapy-notes/<psychotherapyNoteId>",
    summary="A psychotherapy note (its author and grantees only)",
    tags=TAGS,
)
def get_psychotherapy_note(psychotherapyNoteId: str) -> PsychotherapyNoteView:  # noqa: N803
    return PsychotherapyNoteView.of(
        PsychotherapyNoteService(service_context(app)).get(psychotherapyNoteId)
    )


@app.post(
    "/v1/psychotherapy-notes/<psychotherapyNoteId>/grants",
    summary="Let another clinician read this psychotherapy note (author only)",
    tags=TAGS,
    responses=NO_CONTENT_DOC,
)
def grant_psychotherapy_note(psychotherapyNoteId: str, body: GrantIn) -> Response[str]:  # noqa: N803
    PsychotherapyNoteService(service_context(app)).grant(psychotherapyNoteId, body.user_id)
    return no_content()


@app.post(
    "/v1/psychotherapy-notes/<psychotherapyNoteId>/release",
    summary="Release a psychotherapy note under an authorization (author, recent MFA)",
    tags=TAGS,
)
def release_psychotherapy_note(psychotherapyNoteId: str) -> PsychotherapyNoteView:  # noqa: N803
    return PsychotherapyNoteView.of(
        PsychotherapyNoteService(service_context(app)).release(psychotherapyNoteId)
    )


lambda_handler = lambda_entry(app, "notes")

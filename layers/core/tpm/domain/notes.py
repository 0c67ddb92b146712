"""Clinical notes: drafts, versions, signatures, co-signature, addenda, content hashes,
field-level diffs and the billing facts a signed note yields. Pure: no I/O.

Integrity: every saved state of a note is an immutable version row holding the content,
its `content_hash` (SHA-256 over the canonical JSON of the template id/version and the
content) and a `chain_hash` linking it to the row before (who, when, what happened, the
content hash). Recomputing both from the stored content shows whether any version was
altered, removed or reordered; the signature carries the hash of the signed content.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from tpm.domain.template_models import Template
from tpm.domain.template_validation import pointer

GENESIS: Final = "0" * 64
ATTESTATION: Final = (
    "I attest that this note accurately documents the service I provided and that I "
    "reviewed it before signing."
)
COSIGN_ATTESTATION: Final = (
    "I attest that I reviewed this note as the clinical supervisor of its author."
)
ADDENDUM_ATTESTATION: Final = "I attest that this addendum is accurate and complete."


class NoteStatus(StrEnum):
    DRAFT = "draft"
    SIGNED = "signed"  # final (no co-signature needed)
    PENDING_COSIGN = "pending_cosign"  # signed by a supervisee, in the supervisor's queue
    RETURNED = "returned"  # sent back by the supervisor; editable again
    COSIGNED = "cosigned"  # final


EDITABLE: Final = frozenset({NoteStatus.DRAFT, NoteStatus.RETURNED})
FINAL: Final = frozenset({NoteStatus.SIGNED, NoteStatus.COSIGNED})


class VersionEvent(StrEnum):
    CREATED = "created"
    SAVED = "saved"
    SIGNED = "signed"
    RETURNED = "returned"
    COSIGNED = "cosigned"
    ADDENDED = "addended"  # an addendum was signed; the content is unchanged
    # Intake form responses (tpm.services.intake_forms) share this version chain.
    SUBMITTED = "submitted"
    AMENDED = "amended"  # changed after submission (the patient during review, or staff)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Signature(_Frozen):
    signer_id: str
    display_name: str
    credentials: str
    signed_at: datetime
    content_hash: str
    version: int  # the note version that was signed
    attestation: str


class Note(_Frozen):
    id: str
    patient_id: str
    author_id: str
    template_id: str
    template_version: int
    appointment_id: str | None = None
    status: NoteStatus = NoteStatus.DRAFT
    content: dict[str, Any] = Field(default_factory=dict)
    content_hash: str
    chain_hash: str
    created_at: datetime
    updated_at: datetime
    service_date: date | None = None
    signature: Signature | None = None
    cosignature: Signature | None = None
    return_comments: str | None = None  # PHI (sealed)
    late_entry: bool = False
    addenda_count: int = 0
    # Billing facts, set at signing from the content (never content themselves).
    cpt_codes: tuple[str, ...] = ()
    minutes: int | None = None
    place_of_service: str | None = None
    version: int = 1

    @property
    def locked(self) -> bool:
        return self.status not in EDITABLE


class NoteVersion(_Frozen):
    note_id: str
    n: int
    event: VersionEvent
    at: datetime
    by: str
    template_id: str
    template_version: int
    content: dict[str, Any]
    content_hash: str
    prev_hash: str
    chain_hash: str


class Addendum(_Frozen):
    id: str
    note_id: str
    n: int
    text: str  # PHI (sealed)
    text_hash: str
    signature: Signature


class ChargeLine(_Frozen):
    cpt_code: str
    units: int = Field(default=1, ge=1)


class ChargeEvent(_Frozen):
    """A billable service documented by a signed note, for the billing workflow."""

    id: str
    note_id: str
    patient_id: str
    clinician_id: str
    service_date: date
    lines: tuple[ChargeLine, ...] = Field(min_length=1)
    minutes: int | None
    place_of_service: str | None
    appointment_id: str | None
    status: Literal["pending", "claimed", "void"] = "pending"
    # Telehealth facts (docs/telehealth.md): how the service was delivered, where the
    # patient attested they were, and the default modifiers (93 audio-only). Billing
    # derives the payer's POS and modifiers from these; None/() for office visits.
    mode: Literal["in_person", "video", "audio_only"] | None = None
    patient_location: Literal["home", "other"] | None = None
    patient_state: str | None = None
    modifiers: tuple[str, ...] = ()
    visit_id: str | None = None
    created_at: datetime
    # Billing facts for the claim (issue 14): ICD-10-CM codes, principal first, and the
    # claim the charge went onto; older events read back without them.
    diagnoses: tuple[str, ...] = ()
    claim_id: str | None = None
    version: int = 1


class PsychotherapyNote(_Frozen):
    """Process notes kept apart from the record (45 CFR 164.501): read by the author and
    whom the author grants, never listed with notes, shown in the portal or exported."""

    id: str
    patient_id: str
    author_id: str
    text: str = Field(min_length=1, max_length=50_000)  # PHI (sealed)
    created_at: datetime
    version: int = 1


# ---- hashing --------------------------------------------------------------------------


def canonical_json(value: object) -> bytes:
    """One byte string per value: sorted keys, no spaces, UTF-8, no NaN."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def content_hash(template_id: str, template_version: int, content: Mapping[str, Any]) -> str:
    document = {"template": {"id": template_id, "version": template_version}, "content": content}
    return hashlib.sha256(canonical_json(document)).hexdigest()


def text_hash(note_id: str, n: int, text: str) -> str:
    return hashlib.sha256(
        canonical_json({"note": note_id, "addendum": n, "text": text})
    ).hexdigest()


def chain_hash(
    prev_hash: str, note_id: str, n: int, event: str, at: str, by: str, content_sha: str
) -> str:
    link = {
        "prev": prev_hash,
        "note": note_id,
        "n": n,
        "event": event,
        "at": at,
        "by": by,
        "content": content_sha,
    }
    return hashlib.sha256(canonical_json(link)).hexdigest()


def make_version(
    note_id: str,
    n: int,
    event: VersionEvent,
    at: datetime,
    at_text: str,
    by: str,
    template_id: str,
    template_version: int,
    content: dict[str, Any],
    prev_hash: str,
) -> NoteVersion:
    sha = content_hash(template_id, template_version, content)
    return NoteVersion(
        note_id=note_id,
        n=n,
        event=event,
        at=at,
        by=by,
        template_id=template_id,
        template_version=template_version,
        content=content,
        content_hash=sha,
        prev_hash=prev_hash,
        chain_hash=chain_hash(prev_hash, note_id, n, event.value, at_text, by, sha),
    )


@dataclass(frozen=True)
class VersionCheck:
    n: int
    content_ok: bool
    chain_ok: bool


def check_versions(versions: list[NoteVersion], at_text: dict[int, str]) -> list[VersionCheck]:
    """Recompute every version's hashes; `at_text` is each row's stored time string (the
    exact text that was hashed). A gap in the numbering breaks the chain."""
    checks: list[VersionCheck] = []
    prev = GENESIS
    expected_n = 1
    for v in sorted(versions, key=lambda v: v.n):
        sha = content_hash(v.template_id, v.template_version, v.content)
        link = chain_hash(prev, v.note_id, v.n, v.event.value, at_text[v.n], v.by, sha)
        checks.append(
            VersionCheck(
                n=v.n,
                content_ok=sha == v.content_hash,
                chain_ok=v.n == expected_n and v.prev_hash == prev and link == v.chain_hash,
            )
        )
        prev = v.chain_hash
        expected_n = v.n + 1
    return checks


# ---- diff -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    path: str
    op: Literal["added", "removed", "changed"]
    before: Any = None
    after: Any = None


def diff(before: object, after: object) -> list[Change]:
    """Leaf-level changes from `before` to `after` as JSON pointers, in path order."""
    changes: list[Change] = []
    _diff(before, after, [], changes)
    return sorted(changes, key=lambda c: c.path)


def _diff(a: object, b: object, at: list[str], out: list[Change]) -> None:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in sorted(set(a) | set(b)):
            if key not in b:
                out.append(Change(pointer([*at, key]), "removed", before=a[key]))
            elif key not in a:
                out.append(Change(pointer([*at, key]), "added", after=b[key]))
            else:
                _diff(a[key], b[key], [*at, key], out)
        return
    if isinstance(a, list) and isinstance(b, list):
        for i in range(max(len(a), len(b))):
            where = [*at, str(i)]
            if i >= len(b):
                out.append(Change(pointer(where), "removed", before=a[i]))
            elif i >= len(a):
                out.append(Change(pointer(where), "added", after=b[i]))
            else:
                _diff(a[i], b[i], where, out)
        return
    if a != b or type(a) is not type(b):
        out.append(Change(pointer(at), "changed", before=a, after=b))


# ---- signing rules --------------------------------------------------------------------


def session_block(content: Mapping[str, Any]) -> Mapping[str, Any]:
    session = content.get("session")
    return session if isinstance(session, Mapping) else {}


def service_date_of(
    content: Mapping[str, Any], appointment_start: datetime | None, zone: ZoneInfo, now: datetime
) -> date:
    """The date of service: the note's own session date, else the appointment's local
    date, else the day the note is signed."""
    raw = session_block(content).get("date")
    if isinstance(raw, str):
        try:
            return date.fromisoformat(raw)
        except ValueError:
            pass
    moment = appointment_start or now
    return moment.astimezone(zone).date()


def is_late_entry(
    service_date: date,
    appointment_end: datetime | None,
    signed_at: datetime,
    zone: ZoneInfo,
    hours: int,
) -> bool:
    """Signed more than `hours` after the service: after the appointment's end when the
    note is for one, else after the end of the service date (practice time zone)."""
    reference = appointment_end or datetime.combine(
        service_date + timedelta(days=1), time(0), tzinfo=zone
    )
    return signed_at > reference + timedelta(hours=hours)


# Psychotherapy time codes (CMS: 16-37 min 90832, 38-52 min 90834, 53+ min 90837).
_TIMED: Final = (("90832", 16, 37), ("90834", 38, 52), ("90837", 53, 10_000))
_CRISIS_FIRST, _CRISIS_ADD_ON = "90839", "90840"


def billing_lines(template: Template, content: Mapping[str, Any]) -> tuple[ChargeLine, ...]:
    """The CPT lines a signed note supports: only templates with CPT codes and a session
    block bill. Time-based families pick the code by the documented minutes."""
    if not template.cpt_codes or "session" not in template.content_schema.get("properties", {}):
        return ()
    codes = set(template.cpt_codes)
    minutes = session_block(content).get("duration_minutes")
    minutes = minutes if isinstance(minutes, int) and not isinstance(minutes, bool) else None
    if codes <= {code for code, _, _ in _TIMED} and len(codes) > 1:
        if minutes is None:
            return ()
        for code, low, high in _TIMED:
            if code in codes and low <= minutes <= high:
                return (ChargeLine(cpt_code=code),)
        return ()
    if codes == {_CRISIS_FIRST, _CRISIS_ADD_ON}:
        # 90839: the first 30-74 minutes; 90840 for each further 30 (75-104: 1, 105-134: 2).
        if minutes is None or minutes < 30:
            return ()
        lines = [ChargeLine(cpt_code=_CRISIS_FIRST)]
        extra = (minutes - 75) // 30 + 1 if minutes >= 75 else 0
        if extra:
            lines.append(ChargeLine(cpt_code=_CRISIS_ADD_ON, units=extra))
        return tuple(lines)
    return (ChargeLine(cpt_code=template.cpt_codes[0]),)


def place_of_service(
    content: Mapping[str, Any], location_kind: str | None, attested: str | None = None
) -> str | None:
    """CMS place-of-service code: the note's own, else the patient's location attestation
    at the telehealth visit (home 10, elsewhere 02), else from the appointment's location
    (office 11, telehealth 02), else unknown."""
    pos = session_block(content).get("place_of_service")
    if isinstance(pos, str):
        return pos
    if attested is not None and location_kind == "telehealth":
        return attested
    return {"office": "11", "telehealth": "02"}.get(location_kind or "")


def minutes_of(content: Mapping[str, Any]) -> int | None:
    value = session_block(content).get("duration_minutes")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


_MODES: Final = {
    "in_person": "in_person",
    "telehealth_video": "video",
    "telehealth_audio": "audio_only",
}


def diagnoses_of(content: Mapping[str, Any]) -> tuple[str, ...]:
    """The note's ICD-10-CM codes, the one marked primary first (billing facts)."""
    raw = content.get("diagnoses")
    if not isinstance(raw, list):
        return ()
    rows = [d for d in raw if isinstance(d, Mapping) and isinstance(d.get("code"), str)]
    rows.sort(key=lambda d: 0 if d.get("primary") else 1)
    return tuple(str(d["code"]) for d in rows)


def mode_of(content: Mapping[str, Any], location_kind: str | None) -> str | None:
    """in_person / video / audio_only: the note's session modality, else the appointment's
    location (office -> in person, telehealth -> video), else unknown."""
    modality = session_block(content).get("modality")
    if isinstance(modality, str) and modality in _MODES:
        return _MODES[modality]
    return {"office": "in_person", "telehealth": "video"}.get(location_kind or "")

"""Telehealth visits: the waiting room, admission, the session's mode and sharing policy,
attendance, and the facts billing needs (mode, patient location). Pure: no I/O, no clock.

A visit belongs to one telehealth appointment. People enter it only as participants:
the appointment's patients (signed in to the portal), guests the clinician invited with
a single-use invitation, and the clinician who hosts it. Everybody but the host waits
until the host admits them; media credentials exist only for admitted participants.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from enum import StrEnum
from math import ceil
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tpm.domain.scheduling import utc
from tpm.errors import Conflict, Forbidden

US_STATES = frozenset(
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV "
    "NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR VI GU AS MP".split()
)
GUEST_INVITATION_MAX = timedelta(hours=24)
SIGNAL_TTL = timedelta(minutes=30)
MAX_PARTICIPANTS = 16  # a group (12) plus guests and the host


# ---- errors -------------------------------------------------------------------------------


class VisitClosed(Conflict):
    code = "visit_ended"
    message = "This visit has ended."


class VisitNotStarted(Conflict):
    code = "visit_not_started"
    message = "The clinician has not started this visit yet."


class ParticipantState(Conflict):
    code = "invalid_participant_state"
    message = "The participant is not in a state that allows this."


class NotAVisitAppointment(Conflict):
    code = "not_a_telehealth_appointment"
    message = "Only a booked telehealth appointment has a video visit."


class SharingNotAllowed(Forbidden):
    code = "sharing_not_allowed"
    message = "The practice's policy, or the patient's consent, does not allow this."


# ---- values -------------------------------------------------------------------------------


class VisitStatus(StrEnum):
    WAITING = "waiting"  # someone is in the waiting room; no meeting exists yet
    OPEN = "open"  # the host started it: the meeting exists
    ENDED = "ended"


class VisitMode(StrEnum):
    """How the service was delivered (billing: in_person for office visits, which are
    not visits here; audio_only carries modifier 93 downstream)."""

    VIDEO = "video"
    AUDIO_ONLY = "audio_only"


class ParticipantKind(StrEnum):
    HOST = "host"
    PATIENT = "patient"
    GUEST = "guest"


class ParticipantStatus(StrEnum):
    WAITING = "waiting"
    ADMITTED = "admitted"
    DENIED = "denied"
    REMOVED = "removed"
    LEFT = "left"


class IdentityMethod(StrEnum):
    PHOTO_ID = "photo_id"  # the patient showed an ID on camera
    KNOWN_TO_CLINICIAN = "known_to_clinician"  # recognised from earlier visits
    VERBAL_DETAILS = "verbal_details"  # confirmed name and date of birth against the chart


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LocationAttestation(_Frozen):
    """Where the patient says they are for this visit: feeds place of service (10 at home,
    02 elsewhere) and the clinician's licence check."""

    state: str = Field(pattern=r"^[A-Z]{2}$")
    at_home: bool
    attested_at: datetime

    @field_validator("state")
    @classmethod
    def _state(cls, value: str) -> str:
        if value not in US_STATES:
            raise ValueError("a US state or territory code")
        return value

    @property
    def kind(self) -> Literal["home", "other"]:
        return "home" if self.at_home else "other"

    @property
    def place_of_service(self) -> str:
        return "10" if self.at_home else "02"


class DeviceCheck(_Frozen):
    camera: bool
    microphone: bool
    connection: bool


class IdentityCheck(_Frozen):
    method: IdentityMethod
    verified_by: str
    verified_at: datetime


class Participant(_Frozen):
    id: str
    visit_id: str
    kind: ParticipantKind
    alias: str = Field(min_length=1, max_length=60)  # what other participants see
    user_id: str | None = None
    patient_id: str | None = None
    status: ParticipantStatus = ParticipantStatus.WAITING
    joined_at: datetime  # entered the waiting room (or, for the host, started)
    admitted_at: datetime | None = None
    left_at: datetime | None = None  # left, denied, removed or the visit ended
    attended_seconds: int = 0  # summed over every admitted stretch
    attendee_id: str | None = None  # the media service's id for this person
    join_token: str | None = None  # media credential (sealed at rest)
    location: LocationAttestation | None = None
    device_check: DeviceCheck | None = None
    identity_check: IdentityCheck | None = None
    guest_token_hash: str | None = None  # guests: the hash of their visit secret
    consents: tuple[Literal["recording", "screen_share"], ...] = ()
    version: int = 1

    @field_validator("joined_at", "admitted_at", "left_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else utc(value)

    def bump(self, **changes: object) -> Participant:
        return self.model_copy(update={**changes, "version": self.version + 1})

    @property
    def present(self) -> bool:
        return self.status is ParticipantStatus.ADMITTED

    def attended_minutes(self, now: datetime) -> int:
        seconds = self.attended_seconds
        if self.present and self.admitted_at is not None:
            seconds += int((now - self.admitted_at).total_seconds())
        return ceil(seconds / 60) if seconds > 0 else 0


class ModeChange(_Frozen):
    mode: VisitMode
    at: datetime
    by: str
    reason: str = Field(pattern=r"^[a-z_]{1,40}$")


class SharingChange(_Frozen):
    feature: Literal["recording", "screen_share"]
    enabled: bool
    at: datetime
    by: str


class TelehealthPolicy(_Frozen):
    """The practice's telehealth policy (practice settings). Recording and screen sharing
    are off unless the policy allows them AND every patient present consents."""

    recording_allowed: bool = False
    screen_share_allowed: bool = False
    max_video_resolution: Literal["HD", "FHD"] = "HD"
    guest_invitations_allowed: bool = True
    media_region: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$")


class Visit(_Frozen):
    id: str
    appointment_id: str
    clinician_id: str
    patient_ids: tuple[str, ...] = Field(min_length=1)
    status: VisitStatus = VisitStatus.WAITING
    media: str = ""  # "chime" | "local": the adapter that made the meeting
    meeting_id: str | None = None
    meeting: dict[str, object] | None = None  # what a browser needs to join (no secrets)
    created_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    mode: VisitMode = VisitMode.VIDEO
    mode_changes: tuple[ModeChange, ...] = ()
    recording: bool = False
    screen_share: bool = False
    sharing_changes: tuple[SharingChange, ...] = ()
    version: int = 1

    @field_validator("created_at", "started_at", "ended_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else utc(value)

    def bump(self, **changes: object) -> Visit:
        return self.model_copy(update={**changes, "version": self.version + 1})

    @property
    def group(self) -> bool:
        return len(self.patient_ids) > 1

    @property
    def ended(self) -> bool:
        return self.status is VisitStatus.ENDED

    @property
    def audio_only_used(self) -> bool:
        """Billing: a visit that fell back to audio for good is an audio-only service."""
        return self.mode is VisitMode.AUDIO_ONLY

    def duration_minutes(self, now: datetime) -> int:
        if self.started_at is None:
            return 0
        end = self.ended_at or now
        seconds = max(0, int((end - self.started_at).total_seconds()))
        return ceil(seconds / 60) if seconds else 0


# ---- rules --------------------------------------------------------------------------------


def check_open(visit: Visit) -> None:
    if visit.ended:
        raise VisitClosed()


def check_started(visit: Visit) -> None:
    check_open(visit)
    if visit.status is not VisitStatus.OPEN:
        raise VisitNotStarted()


def start(
    visit: Visit, media: str, meeting_id: str, meeting: dict[str, object], now: datetime
) -> Visit:
    check_open(visit)
    return visit.bump(
        status=VisitStatus.OPEN, media=media, meeting_id=meeting_id, meeting=meeting, started_at=now
    )


def admit(
    participant: Participant,
    now: datetime,
    attendee_id: str,
    join_token: str,
    identity: IdentityCheck | None,
) -> Participant:
    if participant.status is not ParticipantStatus.WAITING:
        raise ParticipantState(current_status=participant.status.value)
    return participant.bump(
        status=ParticipantStatus.ADMITTED,
        admitted_at=now,
        attendee_id=attendee_id,
        join_token=join_token,
        identity_check=identity or participant.identity_check,
    )


def leave(participant: Participant, status: ParticipantStatus, now: datetime) -> Participant:
    """Out of the visit (left, denied, removed, or the visit ended): credentials dropped,
    the admitted stretch added to attendance."""
    if participant.status not in (ParticipantStatus.WAITING, ParticipantStatus.ADMITTED):
        raise ParticipantState(current_status=participant.status.value)
    seconds = participant.attended_seconds
    if participant.present and participant.admitted_at is not None:
        seconds += max(0, int((now - participant.admitted_at).total_seconds()))
    if status is ParticipantStatus.DENIED and participant.present:
        status = ParticipantStatus.REMOVED
    return participant.bump(
        status=status,
        left_at=now,
        attended_seconds=seconds,
        admitted_at=None,
        attendee_id=None,
        join_token=None,
    )


def rejoin(
    participant: Participant, now: datetime, location: LocationAttestation | None
) -> Participant:
    """Back to the waiting room after leaving (a dropped connection, a reload): the host
    admits again. Denied or removed people cannot come back on their own."""
    if participant.status in (ParticipantStatus.WAITING, ParticipantStatus.ADMITTED):
        return participant
    if participant.status is not ParticipantStatus.LEFT:
        raise ParticipantState(current_status=participant.status.value)
    return participant.bump(
        status=ParticipantStatus.WAITING,
        joined_at=now,
        left_at=None,
        location=location or participant.location,
    )


def change_mode(visit: Visit, mode: VisitMode, reason: str, by: str, now: datetime) -> Visit:
    check_started(visit)
    if visit.mode is mode:
        return visit
    change = ModeChange(mode=mode, at=now, by=by, reason=reason)
    return visit.bump(mode=mode, mode_changes=(*visit.mode_changes, change))


def sharing_allowed(
    feature: Literal["recording", "screen_share"],
    policy: TelehealthPolicy,
    patients_present: list[Participant],
) -> bool:
    allowed = policy.recording_allowed if feature == "recording" else policy.screen_share_allowed
    return (
        allowed and bool(patients_present) and all(feature in p.consents for p in patients_present)
    )


def set_sharing(
    visit: Visit,
    feature: Literal["recording", "screen_share"],
    enabled: bool,
    policy: TelehealthPolicy,
    patients_present: list[Participant],
    by: str,
    now: datetime,
) -> Visit:
    check_started(visit)
    if enabled and not sharing_allowed(feature, policy, patients_present):
        raise SharingNotAllowed(feature=feature)
    if getattr(visit, feature) == enabled:
        return visit
    change = SharingChange(feature=feature, enabled=enabled, at=now, by=by)
    return visit.bump(**{feature: enabled, "sharing_changes": (*visit.sharing_changes, change)})


def withdraw_turns_off(
    visit: Visit, consents: tuple[str, ...]
) -> list[Literal["recording", "screen_share"]]:
    """What a patient's withdrawn consent switches off at once."""
    off: list[Literal["recording", "screen_share"]] = []
    if visit.recording and "recording" not in consents:
        off.append("recording")
    if visit.screen_share and "screen_share" not in consents:
        off.append("screen_share")
    return off


def alias_for_patient(preferred_name: str | None, legal_first_name: str) -> str:
    """Group privacy: other participants see a first name (the preferred one) only."""
    name = (preferred_name or legal_first_name).strip().split(" ")[0]
    return name[:60] or "Participant"


def licence_warning(licence_states: tuple[str, ...], location: LocationAttestation | None) -> bool:
    """True when the patient attests a state the clinician is not licensed in."""
    return location is not None and location.state not in licence_states


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def invitation_expiry(now: datetime, minutes: int) -> datetime:
    return now + min(timedelta(minutes=minutes), GUEST_INVITATION_MAX)


class GuestInvitation(_Frozen):
    id: str
    visit_id: str
    alias: str = Field(min_length=1, max_length=60)
    token_hash: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    redeemed_at: datetime | None = None
    version: int = 1


class Signal(_Frozen):
    """A message between two participants: WebRTC signalling (local media) or in-session
    chat. Patients' chat goes only to the host."""

    id: str
    visit_id: str
    sender_id: str
    recipient_id: str
    type: Literal["offer", "answer", "ice", "bye", "chat"]
    payload: str = Field(max_length=16_000)
    sent_at: datetime


class BillingFacts(_Frozen):
    """What a telehealth visit contributes to a charge (docs/telehealth.md)."""

    visit_id: str
    mode: VisitMode
    patient_location: Literal["home", "other"] | None
    patient_state: str | None
    place_of_service: str | None
    modifiers: tuple[str, ...]
    attended_minutes: int


def billing_facts(visit: Visit, participant: Participant | None, now: datetime) -> BillingFacts:
    location = participant.location if participant else None
    return BillingFacts(
        visit_id=visit.id,
        mode=visit.mode,
        patient_location=location.kind if location else None,
        patient_state=location.state if location else None,
        place_of_service=location.place_of_service if location else "02",
        modifiers=("93",) if visit.mode is VisitMode.AUDIO_ONLY else (),
        attended_minutes=participant.attended_minutes(now) if participant else 0,
    )

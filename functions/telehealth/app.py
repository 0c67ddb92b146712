"""Telehealth visits: start, waiting room, admit/deny, end, audio-only fallback, sharing
and consent, guest invitations, and the in-visit message queue (signalling and chat).
Guests have their own public routes, authenticated by their visit secret."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, Field, Strict, ValidationError

from tpm.api.app import create_app, lambda_entry
from tpm.api.context import request_meta, service_context
from tpm.api.idempotency import idempotent
from tpm.api.models import RequestModel, validation_fields
from tpm.api.responses import created, created_doc
from tpm.domain import telehealth as rules
from tpm.domain.telehealth import (
    DeviceCheck,
    IdentityMethod,
    LocationAttestation,
    Participant,
    ParticipantKind,
    Signal,
    Visit,
    VisitMode,
)
from tpm.errors import ValidationFailed
from tpm.runtime import get_runtime
from tpm.services.telehealth import TelehealthService, VisitRead
from tpm.services.telehealth_guests import GuestService
from tpm.services.telehealth_messages import VisitMessages

app = create_app("telehealth")
TAGS = ["telehealth"]
GUEST_TAGS = ["telehealth guests"]
GUEST_HEADER = "x-visit-guest"
PARTICIPANT = r"^vpt_[0-9a-z]{26}$"
After = Annotated[
    str | None,
    Query(pattern=r"^sig_[0-9a-z]{26}$", description="The last message id you received."),
]


# ---- requests ---------------------------------------------------------------------------


class VisitLocationIn(RequestModel):
    state: str = Field(pattern=r"^[A-Z]{2}$", description="US state or territory, e.g. TX.")
    at_home: bool = Field(description="The patient is at home (place of service 10; else 02).")


class DeviceCheckIn(RequestModel):
    camera: bool
    microphone: bool
    connection: bool


class JoinIn(RequestModel):
    location: VisitLocationIn
    device_check: DeviceCheckIn | None = None


class AdmitIn(RequestModel):
    identity_method: Annotated[IdentityMethod, Strict(False)] | None = Field(
        default=None, description="Required for patients: how you confirmed them against the chart."
    )


class ModeIn(RequestModel):
    mode: Annotated[VisitMode, Strict(False)]
    reason: Literal["video_failed", "poor_connection", "patient_preference", "video_restored"]


class SharingIn(RequestModel):
    feature: Literal["recording", "screen_share"]
    enabled: bool


class ConsentIn(RequestModel):
    recording: bool
    screen_share: bool


class GuestInviteIn(RequestModel):
    alias: str = Field(
        min_length=1, max_length=60, description='What others see, e.g. "Interpreter".'
    )
    expires_minutes: int = Field(default=60, ge=5, le=1440)


class VisitMessageIn(RequestModel):
    to: str = Field(pattern=r"^(vpt_[0-9a-z]{26}|everyone)$")
    type: Literal["offer", "answer", "ice", "bye", "chat"]
    payload: str = Field(min_length=1, max_length=16_000)


class RedeemIn(RequestModel):
    token: str = Field(min_length=20, max_length=300)


# ---- views ------------------------------------------------------------------------------


class CredentialsView(BaseModel):
    """Only for an admitted participant, only to that participant."""

    attendee_id: str
    join_token: str
    meeting: dict[str, Any]


class MeView(BaseModel):
    participant_id: str
    kind: str
    alias: str
    status: str
    joined_at: datetime
    admitted_at: datetime | None
    consents: list[str]
    credentials: CredentialsView | None

    @classmethod
    def of(cls, p: Participant, visit: Visit) -> MeView:
        creds = None
        if p.present and p.attendee_id and p.join_token and visit.meeting is not None:
            creds = CredentialsView(
                attendee_id=p.attendee_id, join_token=p.join_token, meeting=dict(visit.meeting)
            )
        return cls(
            participant_id=p.id,
            kind=p.kind.value,
            alias=p.alias,
            status=p.status.value,
            joined_at=p.joined_at,
            admitted_at=p.admitted_at,
            consents=list(p.consents),
            credentials=creds,
        )


class PeerView(BaseModel):
    """Another person in the session: an alias (first name) only."""

    participant_id: str
    alias: str
    host: bool
    attendee_id: str | None


class VisitView(BaseModel):
    """A patient's or guest's view: their own state, and aliases of who is in."""

    id: str
    appointment_id: str
    status: str
    media: str
    mode: str
    group: bool
    recording: bool
    screen_share: bool
    started_at: datetime | None
    ended_at: datetime | None
    me: MeView | None
    peers: list[PeerView]

    @classmethod
    def of(cls, visit: Visit, me: Participant | None, people: list[Participant]) -> VisitView:
        admitted = me is not None and me.present
        return cls(
            id=visit.id,
            appointment_id=visit.appointment_id,
            status=visit.status.value,
            media=visit.media,
            mode=visit.mode.value,
            group=visit.group,
            recording=visit.recording,
            screen_share=visit.screen_share,
            started_at=visit.started_at,
            ended_at=visit.ended_at,
            me=MeView.of(me, visit) if me else None,
            peers=[
                PeerView(
                    participant_id=p.id,
                    alias=p.alias,
                    host=p.kind is ParticipantKind.HOST,
                    attendee_id=p.attendee_id,
                )
                for p in people
                if admitted and p.present and (me is None or p.id != me.id)
            ],
        )


class VisitLocationView(BaseModel):
    state: str
    at_home: bool
    place_of_service: str


class IdentityCheckView(BaseModel):
    method: str
    verified_by: str
    verified_at: datetime


class VisitParticipantView(BaseModel):
    """The host's view of one participant: enough to check them against the chart."""

    id: str
    kind: str
    alias: str
    patient_id: str | None
    status: str
    joined_at: datetime
    admitted_at: datetime | None
    left_at: datetime | None
    attended_minutes: int
    location: VisitLocationView | None
    licence_warning: bool
    device_check: DeviceCheckIn | None
    identity_check: IdentityCheckView | None
    consents: list[str]
    attendee_id: str | None


class BillingFactsView(BaseModel):
    patient_id: str
    mode: str
    patient_location: str | None
    patient_state: str | None
    place_of_service: str | None
    modifiers: list[str]
    documented_minutes_offer: int


class ModeChangeView(BaseModel):
    mode: str
    at: datetime
    by: str
    reason: str


class SharingChangeView(BaseModel):
    feature: str
    enabled: bool
    at: datetime
    by: str


class HostVisitView(BaseModel):
    id: str
    appointment_id: str
    clinician_id: str
    patient_ids: list[str]
    status: str
    media: str
    mode: str
    group: bool
    recording: bool
    screen_share: bool
    started_at: datetime | None
    ended_at: datetime | None
    duration_minutes: int
    mode_changes: list[ModeChangeView]
    sharing_changes: list[SharingChangeView]
    me: MeView | None
    participants: list[VisitParticipantView]
    waiting: int
    billing: list[BillingFactsView]
    version: int

    @classmethod
    def of(cls, read: VisitRead, now: datetime) -> HostVisitView:
        v = read.visit
        by_patient = {p.patient_id: p for p in read.participants if p.patient_id}
        billing = []
        for pid in v.patient_ids:
            facts = rules.billing_facts(v, by_patient.get(pid), now)
            billing.append(
                BillingFactsView(
                    patient_id=pid,
                    mode=facts.mode.value,
                    patient_location=facts.patient_location,
                    patient_state=facts.patient_state,
                    place_of_service=facts.place_of_service,
                    modifiers=list(facts.modifiers),
                    documented_minutes_offer=facts.attended_minutes,
                )
            )
        return cls(
            id=v.id,
            appointment_id=v.appointment_id,
            clinician_id=v.clinician_id,
            patient_ids=list(v.patient_ids),
            status=v.status.value,
            media=v.media,
            mode=v.mode.value,
            group=v.group,
            recording=v.recording,
            screen_share=v.screen_share,
            started_at=v.started_at,
            ended_at=v.ended_at,
            duration_minutes=v.duration_minutes(now),
            mode_changes=[ModeChangeView.model_validate(c.model_dump()) for c in v.mode_changes],
            sharing_changes=[
                SharingChangeView.model_validate(c.model_dump()) for c in v.sharing_changes
            ],
            me=MeView.of(read.me, v) if read.me else None,
            participants=[_participant(p, read.licence_states, now) for p in read.participants],
            waiting=sum(1 for p in read.participants if p.status.value == "waiting"),
            billing=billing,
            version=v.version,
        )


def _participant(p: Participant, licences: tuple[str, ...], now: datetime) -> VisitParticipantView:
    return VisitParticipantView(
        id=p.id,
        kind=p.kind.value,
        alias=p.alias,
        patient_id=p.patient_id,
        status=p.status.value,
        joined_at=p.joined_at,
        admitted_at=p.admitted_at,
        left_at=p.left_at,
        attended_minutes=p.attended_minutes(now),
        location=VisitLocationView(
            state=p.location.state,
            at_home=p.location.at_home,
            place_of_service=p.location.place_of_service,
        )
        if p.location
        else None,
        licence_warning=p.kind is ParticipantKind.PATIENT
        and rules.licence_warning(licences, p.location),
        device_check=DeviceCheckIn.model_validate(p.device_check.model_dump())
        if p.device_check
        else None,
        identity_check=IdentityCheckView(
            method=p.identity_check.method.value,
            verified_by=p.identity_check.verified_by,
            verified_at=p.identity_check.verified_at,
        )
        if p.identity_check
        else None,
        consents=list(p.consents),
        attendee_id=p.attendee_id,
    )


class ModeOut(BaseModel):
    mode: str
    mode_changes: list[ModeChangeView]


class HostVisitList(BaseModel):
    items: list[HostVisitView]


class ParticipantOut(BaseModel):
    id: str
    status: str
    attended_minutes: int


class GuestInvitationOut(BaseModel):
    invitation_id: str
    token: str = Field(description="Give this to the guest once; it is not shown again.")
    expires_at: datetime


class VisitMessageView(BaseModel):
    id: str
    sender_id: str
    type: str
    payload: str
    sent_at: datetime

    @classmethod
    def of(cls, s: Signal) -> VisitMessageView:
        return cls(
            id=s.id, sender_id=s.sender_id, type=s.type, payload=s.payload, sent_at=s.sent_at
        )


class MessagesOut(BaseModel):
    items: list[VisitMessageView]


class SentOut(BaseModel):
    ids: list[str]


class GuestOut(BaseModel):
    guest_token: str = Field(description="Send it as the X-Visit-Guest header on guest routes.")
    visit: VisitView


# ---- helpers ------------------------------------------------------------------------------


def _now() -> datetime:
    return get_runtime().clock.now()


def _out(p: Participant) -> ParticipantOut:
    return ParticipantOut(
        id=p.id, status=p.status.value, attended_minutes=p.attended_minutes(_now())
    )


def _view(read: VisitRead) -> HostVisitView | VisitView:
    if read.host_view:
        return HostVisitView.of(read, _now())
    return VisitView.of(read.visit, read.me, read.participants)


def _guests() -> GuestService:
    meta = request_meta(app)
    return GuestService(
        get_runtime(),
        {"source_ip": meta.source_ip, "user_agent": meta.user_agent, "request_id": meta.request_id},
    )


def _guest_token() -> str:
    headers = app.current_event.headers or {}
    for name, value in headers.items():
        if name.lower() == GUEST_HEADER:
            return str(value)
    return ""


# ---- host -------------------------------------------------------------------------------


@app.post(
    "/v1/appointments/<appointmentId>/visit",
    summary="Start the appointment's video visit (creates the meeting; the host joins)",
    tags=TAGS,
    responses=created_doc(HostVisitView),
    middlewares=[idempotent],
)
def start_visit(appointmentId: str) -> Response[str]:  # noqa: N803
    read, new = TelehealthService(service_context(app)).start(appointmentId)
    view = HostVisitView.of(read, _now())
    if new:
        return created(view, f"/v1/visits/{read.visit.id}")
    return Response(status_code=200, content_type="application/json", body=view.model_dump_json())


@app.get("/v1/visits", summary="My open visits today and who is waiting", tags=TAGS)
def my_visits() -> HostVisitList:
    reads = TelehealthService(service_context(app)).waiting_list()
    now = _now()
    return HostVisitList(items=[HostVisitView.of(r, now) for r in reads])


@app.get(
    "/v1/visits/<visitId>",
    summary="A visit (host: everything; patient: own state and aliases)",
    tags=TAGS,
)
def get_visit(visitId: str) -> HostVisitView | VisitView:  # noqa: N803
    return _view(TelehealthService(service_context(app)).get(visitId))


@app.post(
    "/v1/visits/<visitId>/participants/<participantId>/admit",
    summary="Admit someone from the waiting room (patients: with the identity check)",
    tags=TAGS,
)
def admit(visitId: str, participantId: str, body: AdmitIn) -> ParticipantOut:  # noqa: N803
    service = TelehealthService(service_context(app))
    return _out(service.admit(visitId, participantId, body.identity_method))


@app.post(
    "/v1/visits/<visitId>/participants/<participantId>/deny",
    summary="Refuse someone waiting, or remove someone admitted",
    tags=TAGS,
)
def deny(visitId: str, participantId: str) -> ParticipantOut:  # noqa: N803
    return _out(TelehealthService(service_context(app)).deny(visitId, participantId))


@app.post("/v1/visits/<visitId>/end", summary="End the visit (deletes the meeting)", tags=TAGS)
def end_visit(visitId: str) -> HostVisitView:  # noqa: N803
    return HostVisitView.of(TelehealthService(service_context(app)).end(visitId), _now())


@app.post(
    "/v1/visits/<visitId>/sharing",
    summary="Switch recording or screen sharing (policy and patient consent permitting)",
    tags=TAGS,
)
def set_sharing(visitId: str, body: SharingIn) -> HostVisitView:  # noqa: N803
    service = TelehealthService(service_context(app))
    visit = service.set_sharing(visitId, body.feature, body.enabled)
    return HostVisitView.of(service.read_host(visit), _now())


@app.post(
    "/v1/visits/<visitId>/invitations",
    summary="Invite a guest (single use, time-limited)",
    tags=TAGS,
    responses=created_doc(GuestInvitationOut),
    middlewares=[idempotent],
)
def invite_guest(visitId: str, body: GuestInviteIn) -> Response[str]:  # noqa: N803
    inv, token = TelehealthService(service_context(app)).invite_guest(
        visitId, body.alias, body.expires_minutes
    )
    out = GuestInvitationOut(invitation_id=inv.id, token=token, expires_at=inv.expires_at)
    return created(out, f"/v1/visits/{visitId}")


# ---- patients ---------------------------------------------------------------------------


@app.post(
    "/v1/appointments/<appointmentId>/visit/waiting-room",
    summary="Enter the visit's waiting room (location attestation, device check)",
    tags=TAGS,
)
def join(appointmentId: str, body: JoinIn) -> VisitView:  # noqa: N803
    service = TelehealthService(service_context(app))
    try:
        location = LocationAttestation(
            state=body.location.state, at_home=body.location.at_home, attested_at=_now()
        )
    except ValidationError as exc:  # e.g. a two-letter code that is no US state: 422
        raise ValidationFailed(fields=validation_fields(exc, "body.location")) from None
    device = DeviceCheck(**body.device_check.model_dump()) if body.device_check else None
    visit, me = service.join(appointmentId, location, device)
    return VisitView.of(visit, me, [])


@app.post(
    "/v1/visits/<visitId>/consent",
    summary="My consent to recording and screen sharing in this session",
    tags=TAGS,
)
def consent(visitId: str, body: ConsentIn) -> ParticipantOut:  # noqa: N803
    service = TelehealthService(service_context(app))
    return _out(service.consent(visitId, body.recording, body.screen_share))


# ---- either -------------------------------------------------------------------------------


@app.post("/v1/visits/<visitId>/leave", summary="Leave the visit", tags=TAGS)
def leave(visitId: str) -> ParticipantOut:  # noqa: N803
    return _out(TelehealthService(service_context(app)).leave(visitId))


@app.post(
    "/v1/visits/<visitId>/mode",
    summary="Fall back to audio only when video fails (or back to video)",
    tags=TAGS,
)
def set_mode(visitId: str, body: ModeIn) -> ModeOut:  # noqa: N803
    visit = TelehealthService(service_context(app)).set_mode(visitId, body.mode, body.reason)
    return ModeOut(
        mode=visit.mode.value,
        mode_changes=[ModeChangeView.model_validate(c.model_dump()) for c in visit.mode_changes],
    )


@app.get("/v1/visits/<visitId>/messages", summary="Messages for me (signalling, chat)", tags=TAGS)
def messages(visitId: str, after: After = None) -> MessagesOut:  # noqa: N803
    signals = VisitMessages(service_context(app)).receive(visitId, after)
    return MessagesOut(items=[VisitMessageView.of(s) for s in signals])


@app.post(
    "/v1/visits/<visitId>/messages",
    summary="Send signalling or chat (patients' chat goes to the clinician only)",
    tags=TAGS,
    responses=created_doc(SentOut),
    middlewares=[idempotent],
)
def send_message(visitId: str, body: VisitMessageIn) -> Response[str]:  # noqa: N803
    signals = VisitMessages(service_context(app)).send(visitId, body.to, body.type, body.payload)
    return created(SentOut(ids=[s.id for s in signals]))


# ---- guests (public routes; the visit secret authenticates) ------------------------------


@app.post(
    "/v1/visit-guests",
    summary="Redeem a guest invitation (single use): enter the waiting room",
    tags=GUEST_TAGS,
    responses=created_doc(GuestOut),
)
def redeem(body: RedeemIn) -> Response[str]:
    session, token = _guests().redeem(body.token)
    return created(GuestOut(guest_token=token, visit=VisitView.of(session.visit, session.me, [])))


@app.get("/v1/visit-guests/me", summary="A guest's visit state", tags=GUEST_TAGS)
def guest_status() -> VisitView:
    session, people = _guests().status(_guest_token())
    return VisitView.of(session.visit, session.me, people)


@app.post("/v1/visit-guests/me/leave", summary="A guest leaves the visit", tags=GUEST_TAGS)
def guest_leave() -> ParticipantOut:
    return _out(_guests().leave(_guest_token()))


@app.get("/v1/visit-guests/me/messages", summary="Messages for a guest", tags=GUEST_TAGS)
def guest_messages(after: After = None) -> MessagesOut:
    signals = _guests().receive(_guest_token(), after)
    return MessagesOut(items=[VisitMessageView.of(s) for s in signals])


@app.post(
    "/v1/visit-guests/me/messages",
    summary="A guest sends signalling or chat (chat to the clinician only)",
    tags=GUEST_TAGS,
    responses=created_doc(SentOut),
)
def guest_send(body: VisitMessageIn) -> Response[str]:
    signals = _guests().send(_guest_token(), body.to, body.type, body.payload)
    return created(SentOut(ids=[s.id for s in signals]))


lambda_handler = lambda_entry(app, "telehealth")

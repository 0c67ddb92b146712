"""Proxy portal access: staff invite and manage a patient's personal representatives
(guardian, parent of a minor, healthcare power of attorney); the proxy, signed in to the
portal with their own account, acts for the patient within the grant's scope.

Staff routes live under the patient (/v1/patients/{patientId}/proxies...); the proxy's own
routes under /v1/proxy/patients/{patientId}/... — the patient named in the path is checked
against the caller's grant on every request (tpm.services.proxy_access)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel, Field, Strict, model_validator

from tpm.api.app import create_app, lambda_entry
from tpm.api.context import Cursor, Limit, service_context
from tpm.api.idempotency import idempotent
from tpm.api.models import EmailAddress, IsoDate, RequestModel
from tpm.api.responses import created, created_doc
from tpm.domain.messaging import MAX_BODY, MAX_SUBJECT, AuthorKind, Message, Thread
from tpm.domain.proxies import (
    MAX_BASIS,
    ProxyRelationship,
    ProxyRestriction,
    ProxyScope,
    ProxyStatus,
)
from tpm.services.message_append import Appended
from tpm.services.proxies import NewProxy, ProxyChange, ProxyEntry, ProxyInvitation, ProxyService
from tpm.services.proxy_portal import ActingFor, ProxyAppointment, ProxyPortal, ProxyThreadPage

app = create_app("proxies")
TAGS = ["proxies"]
NOT_BLANK = r"\S"
USER_ID = r"^usr_[0-9a-z]{26}$"

Relationship = Annotated[ProxyRelationship, Strict(False)]
ScopeIn = Annotated[ProxyScope, Strict(False)]


# ---- staff: request bodies --------------------------------------------------------------


class ProxyInviteIn(RequestModel):
    email: EmailAddress
    display_name: str = Field(min_length=1, max_length=120, pattern=NOT_BLANK)
    relationship: Relationship
    basis: str = Field(
        min_length=1,
        max_length=MAX_BASIS,
        pattern=NOT_BLANK,
        description="The documented basis (e.g. 'birth certificate on file', 'court order "
        "2026-CV-0000 scanned to the chart'). Sealed.",
    )
    scopes: list[ScopeIn] = Field(min_length=1, max_length=3)
    ends_on: IsoDate | None = Field(
        default=None, description="The last day of access (practice time); none = open-ended."
    )


class ProxyPatchIn(RequestModel):
    version: int = Field(ge=1)
    scopes: list[ScopeIn] | None = Field(default=None, min_length=1, max_length=3)
    ends_on: IsoDate | None = Field(default=None, description="null clears the end date.")
    relationship: Relationship | None = None
    basis: str | None = Field(default=None, min_length=1, max_length=MAX_BASIS, pattern=NOT_BLANK)

    @model_validator(mode="after")
    def _renewal(self) -> ProxyPatchIn:
        if self.relationship is not None and self.basis is None:
            raise ValueError("a new relationship needs its documented basis")
        return self


class ProxyRestrictionIn(RequestModel):
    restricted: bool = Field(
        description="true: the patient's proxies get scheduling and billing only."
    )


# ---- staff: responses ---------------------------------------------------------------------


class ProxyGrantOut(BaseModel):
    id: str
    patient_id: str
    proxy_user_id: str
    proxy_name: str
    proxy_email: str
    account_status: str
    relationship: ProxyRelationship
    basis: str
    scopes: list[ProxyScope]
    ends_on: date | None
    access_ends_at: datetime | None = Field(
        description="When access ends by itself: the end date, or the age of majority for a "
        "parent of a minor (whichever is first)."
    )
    status: ProxyStatus
    invited_by: str
    invited_at: datetime
    revoked_at: datetime | None
    version: int

    @classmethod
    def of(cls, e: ProxyEntry) -> ProxyGrantOut:
        g = e.grant
        return cls(
            id=g.id,
            patient_id=g.patient_id,
            proxy_user_id=g.proxy_user_id,
            proxy_name=e.user.display_name if e.user else "",
            proxy_email=e.user.email if e.user else "",
            account_status=e.user.status.value if e.user else "unknown",
            relationship=g.relationship,
            basis=g.basis,
            scopes=list(g.scopes),
            ends_on=g.ends_on,
            access_ends_at=e.access_ends_at,
            status=e.status,
            invited_by=g.invited_by,
            invited_at=g.invited_at,
            revoked_at=g.revoked_at,
            version=g.version,
        )


class ProxyInvitationOut(BaseModel):
    proxy: ProxyGrantOut
    invitation_token: str | None = Field(
        description="One-time code for the proxy to choose a password (null: they already "
        "have an active account and see the patient at their next sign-in)."
    )
    expires_at: datetime | None

    @classmethod
    def of(cls, i: ProxyInvitation) -> ProxyInvitationOut:
        return cls(
            proxy=ProxyGrantOut.of(i.entry), invitation_token=i.token, expires_at=i.expires_at
        )


class ProxyListOut(BaseModel):
    items: list[ProxyGrantOut]
    restricted: bool = Field(description="Proxies get scheduling and billing only.")


class ProxyRestrictionOut(BaseModel):
    patient_id: str
    restricted: bool
    set_by: str
    set_at: datetime
    version: int

    @classmethod
    def of(cls, r: ProxyRestriction) -> ProxyRestrictionOut:
        return cls(**r.model_dump())


# ---- staff: routes ------------------------------------------------------------------------


@app.post(
    "/v1/patients/<patientId>/proxies",
    summary="Invite a proxy (guardian, parent of a minor, power of attorney) for a patient",
    tags=TAGS,
    responses=created_doc(ProxyInvitationOut),
    middlewares=[idempotent],
)
def invite_proxy(patientId: str, body: ProxyInviteIn) -> Response[str]:  # noqa: N803
    new = NewProxy(
        email=body.email,
        display_name=body.display_name,
        relationship=body.relationship,
        basis=body.basis,
        scopes=tuple(body.scopes),
        ends_on=body.ends_on,
    )
    invitation = ProxyService(service_context(app)).invite(patientId, new)
    return created(ProxyInvitationOut.of(invitation))


@app.get("/v1/patients/<patientId>/proxies", summary="A patient's proxies", tags=TAGS)
def list_proxies(patientId: str) -> ProxyListOut:  # noqa: N803
    found = ProxyService(service_context(app)).list(patientId)
    return ProxyListOut(
        items=[ProxyGrantOut.of(e) for e in found.entries], restricted=found.restricted
    )


@app.patch(
    "/v1/patients/<patientId>/proxies/<proxyId>",
    summary="Change a proxy's scope or end date, or renew it on a new basis",
    tags=TAGS,
)
def update_proxy(patientId: str, proxyId: str, body: ProxyPatchIn) -> ProxyGrantOut:  # noqa: N803
    named = body.model_fields_set
    change = ProxyChange(
        version=body.version,
        scopes=tuple(body.scopes) if body.scopes else None,
        ends_on=body.ends_on,
        clear_end="ends_on" in named and body.ends_on is None,
        relationship=body.relationship,
        basis=body.basis,
    )
    return ProxyGrantOut.of(ProxyService(service_context(app)).update(patientId, proxyId, change))


@app.post(
    "/v1/patients/<patientId>/proxies/<proxyId>/revoke",
    summary="Revoke a proxy at once (ends their sessions when it was their last patient)",
    tags=TAGS,
)
def revoke_proxy(patientId: str, proxyId: str) -> ProxyGrantOut:  # noqa: N803
    return ProxyGrantOut.of(ProxyService(service_context(app)).revoke(patientId, proxyId))


@app.put(
    "/v1/patients/<patientId>/proxy-restriction",
    summary="Restrict the patient's proxies to scheduling and billing (clinician)",
    tags=TAGS,
)
def restrict_proxies(patientId: str, body: ProxyRestrictionIn) -> ProxyRestrictionOut:  # noqa: N803
    flag = ProxyService(service_context(app)).restrict(patientId, body.restricted)
    return ProxyRestrictionOut.of(flag)


class ProxyShareIn(RequestModel):
    visible: bool = Field(description="true: the patient's proxies reach this conversation.")
    version: int = Field(ge=1, description="The thread's version you loaded (409 if it changed).")


class ProxyShareOut(BaseModel):
    thread_id: str
    patient_id: str
    proxy_visible: bool
    version: int


@app.put(
    "/v1/threads/<threadId>/proxy-visibility",
    summary="Share one of the patient's conversations with their proxies (or stop)",
    tags=TAGS,
)
def share_with_proxies(threadId: str, body: ProxyShareIn) -> ProxyShareOut:  # noqa: N803
    t = ProxyService(service_context(app)).share_thread(threadId, body.version, body.visible)
    return ProxyShareOut(
        thread_id=t.id, patient_id=t.patient_id, proxy_visible=t.proxy_visible, version=t.version
    )


# ---- proxy: request bodies and responses ----------------------------------------------------


class ProxyThreadIn(RequestModel):
    subject: str = Field(min_length=1, max_length=MAX_SUBJECT, pattern=NOT_BLANK)
    body: str = Field(min_length=1, max_length=MAX_BODY, pattern=NOT_BLANK)
    recipient_ids: list[Annotated[str, Field(pattern=USER_ID)]] = Field(
        default_factory=list, max_length=20, description="Default: the whole care team."
    )


class ProxyMessageIn(RequestModel):
    body: str = Field(min_length=1, max_length=MAX_BODY, pattern=NOT_BLANK)


class ActingForOut(BaseModel):
    patient_id: str
    display_name: str
    relationship: ProxyRelationship
    scopes: list[ProxyScope] = Field(description="What the proxy may do now.")
    access_ends_at: datetime | None

    @classmethod
    def of(cls, a: ActingFor) -> ActingForOut:
        return cls(
            patient_id=a.patient_id,
            display_name=a.display_name,
            relationship=a.grant.relationship,
            scopes=sorted(a.scopes),
            access_ends_at=a.access_ends_at,
        )


class ActingForListOut(BaseModel):
    items: list[ActingForOut]


class ProxyThreadSummary(BaseModel):
    id: str
    subject: str
    last_message_at: datetime
    message_count: int

    @classmethod
    def of(cls, t: Thread) -> ProxyThreadSummary:
        return cls(
            id=t.id,
            subject=t.subject,
            last_message_at=t.last_message_at,
            message_count=t.message_count,
        )


class ProxyThreadListOut(BaseModel):
    items: list[ProxyThreadSummary]


class ProxyMessageOut(BaseModel):
    """A restricted message (flagged as an inappropriate disclosure) has no body."""

    id: str
    author_kind: AuthorKind
    author_name: str
    mine: bool
    body: str | None
    sent_at: datetime
    restricted: bool

    @classmethod
    def of(cls, m: Message, me: str) -> ProxyMessageOut:
        return cls(
            id=m.id,
            author_kind=m.author_kind,
            author_name=m.author_name,
            mine=m.author_id == me,
            body=None if m.restricted else m.body,
            sent_at=m.sent_at,
            restricted=m.restricted,
        )


class ProxyThreadOut(BaseModel):
    id: str
    patient_id: str
    subject: str
    messages: list[ProxyMessageOut] = Field(description="Oldest first.")
    earlier_cursor: str | None

    @classmethod
    def of(cls, page: ProxyThreadPage, me: str) -> ProxyThreadOut:
        return cls(
            id=page.thread.id,
            patient_id=page.thread.patient_id,
            subject=page.thread.subject,
            messages=[ProxyMessageOut.of(m, me) for m in page.messages],
            earlier_cursor=page.earlier_cursor,
        )


class ProxySentOut(BaseModel):
    thread_id: str
    message_id: str
    auto_reply: str | None = Field(description="The practice's out-of-hours reply, if sent.")

    @classmethod
    def of(cls, done: Appended) -> ProxySentOut:
        replies = [m.body for m in done.notices if m.author_kind is AuthorKind.SYSTEM]
        return cls(
            thread_id=done.thread.id,
            message_id=done.message.id,
            auto_reply=replies[0] if replies else None,
        )


class ProxyAppointmentOut(BaseModel):
    id: str
    start: datetime
    end: datetime
    status: str
    clinician_name: str
    location_kind: str

    @classmethod
    def of(cls, a: ProxyAppointment) -> ProxyAppointmentOut:
        appt = a.appointment
        return cls(
            id=appt.id,
            start=appt.start,
            end=appt.end,
            status=appt.status.value,
            clinician_name=a.clinician_name,
            location_kind=appt.location_kind.value,
        )


class ProxyAppointmentListOut(BaseModel):
    items: list[ProxyAppointmentOut]


# ---- proxy: routes --------------------------------------------------------------------------


@app.get(
    "/v1/proxy/patients",
    summary="The patients the signed-in proxy may act for now (the switcher)",
    tags=TAGS,
)
def acting_for() -> ActingForListOut:
    found = ProxyPortal(service_context(app)).acting_for()
    return ActingForListOut(items=[ActingForOut.of(a) for a in found])


@app.get(
    "/v1/proxy/patients/<patientId>/threads",
    summary="The patient's conversations visible to proxies",
    tags=TAGS,
)
def proxy_threads(patientId: str) -> ProxyThreadListOut:  # noqa: N803
    found = ProxyPortal(service_context(app)).threads(patientId)
    return ProxyThreadListOut(items=[ProxyThreadSummary.of(t) for t in found])


@app.post(
    "/v1/proxy/patients/<patientId>/threads",
    summary="Start a conversation with the patient's care team, as their proxy",
    tags=TAGS,
    responses=created_doc(ProxySentOut),
    middlewares=[idempotent],
)
def proxy_start_thread(patientId: str, body: ProxyThreadIn) -> Response[str]:  # noqa: N803
    done = ProxyPortal(service_context(app)).start(
        patientId, body.subject, body.body, tuple(body.recipient_ids)
    )
    return created(ProxySentOut.of(done))


@app.get(
    "/v1/proxy/patients/<patientId>/threads/<threadId>",
    summary="A conversation visible to proxies, newest messages last",
    tags=TAGS,
)
def proxy_thread(
    patientId: str,  # noqa: N803
    threadId: str,  # noqa: N803
    limit: Limit = 50,
    cursor: Cursor = None,
) -> ProxyThreadOut:
    ctx = service_context(app)
    page = ProxyPortal(ctx).thread(patientId, threadId, limit, cursor)
    return ProxyThreadOut.of(page, ctx.principal.user_id)


@app.post(
    "/v1/proxy/patients/<patientId>/threads/<threadId>/messages",
    summary="Write in a conversation, as the patient's proxy",
    tags=TAGS,
    responses=created_doc(ProxySentOut),
    middlewares=[idempotent],
)
def proxy_send(patientId: str, threadId: str, body: ProxyMessageIn) -> Response[str]:  # noqa: N803
    done = ProxyPortal(service_context(app)).reply(patientId, threadId, body.body)
    return created(ProxySentOut.of(done))


@app.get(
    "/v1/proxy/patients/<patientId>/appointments",
    summary="The patient's upcoming appointments, for a proxy with the appointments scope",
    tags=TAGS,
)
def proxy_appointments(patientId: str) -> ProxyAppointmentListOut:  # noqa: N803
    found = ProxyPortal(service_context(app)).appointments(patientId)
    return ProxyAppointmentListOut(items=[ProxyAppointmentOut.of(a) for a in found])


lambda_handler = lambda_entry(app, "proxies")

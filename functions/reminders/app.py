"""Reminders: settings and templates (content-controlled), the delivery log, opt-out
(email link, SMS STOP), clinicians' calendar feeds, and the scheduled sweep."""

from __future__ import annotations

import html
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from tpm.api.app import create_app, lambda_entry
from tpm.api.context import Cursor, Limit, request_meta, service_context
from tpm.api.responses import created, created_doc, no_content
from tpm.api.views import Page
from tpm.domain.reminders import MessageTemplate, QuietHours, ReminderRule, ReminderSettings
from tpm.observability import get_logger
from tpm.repositories.reminders import OutboxMessage
from tpm.runtime import get_runtime
from tpm.services.calendar_feed import CalendarFeed, CalendarFeedService, serve_feed
from tpm.services.reminder_opt_out import opt_out_by_link, parse_inbound, sms_inbound
from tpm.services.reminder_sweep import ReminderSweep
from tpm.services.reminders import ReminderService

app = create_app("reminders")
TAGS = ["reminders"]
FEED_TAGS = ["calendar"]
log = get_logger("reminders")
_SWEEP_MARGIN_MS = 20_000


# ---- models -----------------------------------------------------------------------------


class ReminderSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=0, description="The current version (0 before the first save).")
    rules: list[ReminderRule] = Field(max_length=10)
    templates: dict[str, MessageTemplate] = Field(max_length=12)
    quiet_hours: QuietHours = Field(default_factory=QuietHours)
    allow_clinician_name: bool = False
    feed_patient_initials: bool = False
    sms_number: str | None = Field(default=None, pattern=r"^\+[1-9]\d{6,14}$")


class ReminderSettingsView(BaseModel):
    rules: list[ReminderRule]
    templates: dict[str, MessageTemplate]
    quiet_hours: QuietHours
    allow_clinician_name: bool
    feed_patient_initials: bool
    sms_number: str | None
    allowed_placeholders: list[str]
    version: int

    @classmethod
    def of(cls, s: ReminderSettings) -> ReminderSettingsView:
        placeholders = ["first_name", "appointment_time", "practice_name", "portal_link"]
        placeholders.append("opt_out_link")
        if s.allow_clinician_name:
            placeholders.append("clinician_name")
        return cls(
            rules=s.rules,
            templates=s.templates,
            quiet_hours=s.quiet_hours,
            allow_clinician_name=s.allow_clinician_name,
            feed_patient_initials=s.feed_patient_initials,
            sms_number=s.sms_number,
            allowed_placeholders=placeholders,
            version=s.version,
        )


class PatientTemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=0, description="The override's current version (0: none yet).")
    templates: dict[str, MessageTemplate] = Field(max_length=12)


class PatientTemplateOut(BaseModel):
    patient_id: str
    version: int


class OutboxView(BaseModel):
    id: str
    sent_at: str
    channel: str
    to: str = Field(description="The recipient, masked.")
    subject: str | None
    text: str
    appointment_id: str = Field(description="The appointment a reminder is about; empty otherwise.")
    patient_id: str
    thread_id: str | None = Field(
        default=None, description="The message thread a 'secure message waiting' notice is about."
    )

    @classmethod
    def of(cls, m: OutboxMessage) -> OutboxView:
        return cls(
            id=m.id,
            sent_at=m.sent_at,
            channel=m.channel,
            to=mask(m.to),
            subject=m.subject,
            text=m.text,
            appointment_id=m.appointment_id,
            patient_id=m.patient_id,
            thread_id=m.thread_id,
        )


class InboundSmsIn(BaseModel):
    """AWS End User Messaging two-way SMS record (or an SNS envelope holding one)."""

    model_config = ConfigDict(extra="ignore")  # a provider webhook: unknown fields are normal

    originationNumber: str | None = Field(default=None, max_length=20)  # noqa: N815
    destinationNumber: str | None = Field(default=None, max_length=20)  # noqa: N815
    messageBody: str | None = Field(default=None, max_length=1600)  # noqa: N815
    Type: str | None = Field(default=None, max_length=40)
    Message: str | None = Field(default=None, max_length=8000)


class CalendarFeedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = Field(default="My appointments", min_length=1, max_length=60)


class CalendarFeedView(BaseModel):
    id: str
    label: str
    created_at: str
    revoked_at: str | None
    active: bool

    @classmethod
    def of(cls, f: CalendarFeed) -> CalendarFeedView:
        return cls(
            id=f.id,
            label=f.label,
            created_at=f.created_at,
            revoked_at=f.revoked_at,
            active=f.revoked_at is None,
        )


class CalendarFeedCreated(CalendarFeedView):
    url: str = Field(description="The secret feed URL. Shown once; keep it private.")


def mask(address: str) -> str:
    if "@" in address:
        local, _, domain = address.partition("@")
        return f"{local[:1]}***@{domain}"
    return f"{address[:2]}******{address[-2:]}" if len(address) > 4 else "****"


# ---- settings and templates ---------------------------------------------------------------


@app.get("/v1/reminder-settings", summary="The practice's reminder rules and templates", tags=TAGS)
def get_settings() -> ReminderSettingsView:
    return ReminderSettingsView.of(ReminderService(service_context(app)).settings())


@app.put(
    "/v1/reminder-settings",
    summary="Replace reminder rules, templates and quiet hours (content-controlled)",
    tags=TAGS,
)
def put_settings(body: ReminderSettingsIn) -> ReminderSettingsView:
    saved = ReminderService(service_context(app)).update_settings(
        version=body.version,
        rules=body.rules,
        templates=body.templates,
        quiet_hours=body.quiet_hours,
        allow_clinician_name=body.allow_clinician_name,
        feed_patient_initials=body.feed_patient_initials,
        sms_number=body.sms_number,
    )
    return ReminderSettingsView.of(saved)


@app.put(
    "/v1/patients/<patientId>/reminder-template",
    summary="A patient's own reminder templates (may name the service only with consent)",
    tags=TAGS,
)
def put_patient_template(patientId: str, body: PatientTemplateIn) -> PatientTemplateOut:  # noqa: N803
    version = ReminderService(service_context(app)).update_patient_templates(
        patientId, body.version, body.templates
    )
    return PatientTemplateOut(patient_id=patientId, version=version)


@app.get("/v1/outbox", summary="Messages sent to patients (delivery log)", tags=TAGS)
def list_outbox(limit: Limit = 25, cursor: Cursor = None) -> Page[OutboxView]:
    messages, next_cursor = ReminderService(service_context(app)).outbox(limit, cursor)
    return Page[OutboxView](items=[OutboxView.of(m) for m in messages], next_cursor=next_cursor)


# ---- opt-out (public) ---------------------------------------------------------------------

_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    "<title>{title}</title></head><body><main><h1>{title}</h1><p>{text}</p></main></body></html>"
)


def _html(status: int, title: str, text: str) -> Response[str]:
    body = _PAGE.format(title=html.escape(title), text=html.escape(text))
    return Response(
        status_code=status,
        content_type="text/html; charset=utf-8",
        body=body,
        headers={"Cache-Control": "no-store"},
    )


@app.get(
    "/v1/reminders/opt-out/<token>",
    summary="Stop email reminders (link in every reminder email; public)",
    tags=TAGS,
    responses={200: {"description": "Confirmation page", "content": {"text/html": {}}}},
)
def opt_out(token: str) -> Response[str]:
    opt_out_by_link(get_runtime(), token, request_meta(app))
    return _html(200, "Unsubscribed", "You will no longer receive email reminders.")


@app.post(
    "/v1/sms/inbound",
    summary="Inbound SMS (STOP opts the sender out of SMS reminders; public webhook)",
    tags=TAGS,
    responses={204: {"description": "Accepted"}},
)
def inbound_sms(body: InboundSmsIn) -> Response[str]:
    message = parse_inbound(body.model_dump(exclude_none=True))
    if message is not None:
        sms_inbound(get_runtime(), message, request_meta(app))
    return no_content()  # the same answer whether or not the sender is known


# ---- calendar feeds -----------------------------------------------------------------------


@app.post(
    "/v1/me/calendar-feeds",
    summary="Create my calendar feed (returns its secret URL once)",
    tags=FEED_TAGS,
    responses=created_doc(CalendarFeedCreated),
)
def create_feed(body: CalendarFeedIn) -> Response[str]:
    ctx = service_context(app)
    feed, token = CalendarFeedService(ctx).create(body.label)
    url = f"{ctx.runtime.settings.portal_url.rstrip('/')}/v1/calendar-feeds/{token}"
    view = CalendarFeedCreated(**CalendarFeedView.of(feed).model_dump(), url=url)
    return created(view, f"/v1/me/calendar-feeds/{feed.id}")


@app.get("/v1/me/calendar-feeds", summary="My calendar feeds", tags=FEED_TAGS)
def list_feeds() -> Page[CalendarFeedView]:
    feeds = CalendarFeedService(service_context(app)).list_feeds()
    return Page[CalendarFeedView](items=[CalendarFeedView.of(f) for f in feeds])


@app.post("/v1/me/calendar-feeds/<feedId>/revoke", summary="Revoke a calendar feed", tags=FEED_TAGS)
def revoke_feed(feedId: str) -> Response[str]:  # noqa: N803
    CalendarFeedService(service_context(app)).revoke(feedId)
    return no_content()


@app.get(
    "/v1/calendar-feeds/<token>",
    summary="A clinician's appointments as iCalendar (secret URL; no PHI)",
    tags=FEED_TAGS,
    responses={200: {"description": "RFC 5545 calendar", "content": {"text/calendar": {}}}},
)
def calendar_feed(token: str) -> Response[str]:
    document = serve_feed(get_runtime(), token, request_meta(app))
    return Response(
        status_code=200,
        content_type="text/calendar; charset=utf-8",
        body=document.decode("utf-8"),
        headers={"Cache-Control": "private, no-store"},
    )


lambda_handler = lambda_entry(app, "reminders")


# ---- the scheduled sweep ------------------------------------------------------------------


def sweep_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    """EventBridge (AWS) / the local scheduler (tpm dev), every 5 minutes. Stops starting
    new work near the timeout; what is left is due at the next run."""
    sweep = ReminderSweep(get_runtime())
    report = sweep.run(lambda: context.get_remaining_time_in_millis() < _SWEEP_MARGIN_MS)
    summary = dict(report.__dict__)
    log.info("reminder sweep", extra=summary)
    return summary

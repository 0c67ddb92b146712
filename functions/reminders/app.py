"""Reminders: settings and templates (content-controlled), the delivery log, opt-out
(email link, SMS STOP), clinicians' calendar feeds, and the scheduled sweep."""

from __future__ import annotations

import html
from datetime import time
from typing import Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from tpm.api.app import create_app, lambda_entry
from tpm.api.context import Cursor, Limit, request_meta, service_context
from tpm.api.idempotency import idempotent
from tpm.api.models import LocalTime, RequestModel, to_domain
from tpm.api.responses import NO_CONTENT_DOC, created, created_doc, no_content
from tpm.api.views import Page
from tpm.domain.reminders import (
    Channel,
    MessageTemplate,
    QuietHours,
    ReminderRule,
    ReminderSettings,
)
from tpm.observability import get_logger
from tpm.repositories.reminders import OutboxMessage
from tpm.runtime import get_runtime
from tpm.security.sns import verifier_for
from tpm.services.calendar_feed import CalendarFeed, CalendarFeedService, serve_feed
from tpm.services.reminder_opt_out import (
    check_link,
    opt_out_by_link,
    parse_inbound,
    sms_inbound,
)
from tpm.services.reminder_sweep import ReminderSweep
from tpm.services.reminders import ReminderService

app = create_app("reminders")
TAGS = ["reminders"]
FEED_TAGS = ["calendar"]
log = get_logger("reminders")
_SWEEP_MARGIN_MS = 20_000


# ---- models -----------------------------------------------------------------------------


class ReminderRuleIn(RequestModel):
    id: str = Field(pattern=r"^[a-z0-9-]{1,32}$")
    kind: Literal["confirmation", "reminder"]
    channel: Channel
    hours_before: int = Field(default=0, ge=0, le=720)
    active: bool = True


class MessageTemplateIn(RequestModel):
    subject: str | None = Field(default=None, max_length=150)
    body: str = Field(min_length=1, max_length=2000)


class QuietHoursIn(RequestModel):
    enabled: bool = True
    start: LocalTime = time(21, 0)
    end: LocalTime = time(8, 0)


def _templates(templates: dict[str, MessageTemplateIn]) -> dict[str, MessageTemplate]:
    return {k: to_domain(MessageTemplate, v, f"body.templates.{k}") for k, v in templates.items()}


class ReminderSettingsIn(RequestModel):
    version: int = Field(ge=0, description="The current version (0 before the first save).")
    rules: list[ReminderRuleIn] = Field(max_length=10)
    templates: dict[str, MessageTemplateIn] = Field(max_length=12)
    quiet_hours: QuietHoursIn = Field(default_factory=QuietHoursIn)
    allow_clinician_name: bool = False
    feed_patient_initials: bool = False
    sms_number: str | None = Field(default=None, pattern=r"^\+[1-9]\d{6,14}$")


class QuietHoursView(BaseModel):
    enabled: bool
    start: LocalTime
    end: LocalTime


class ReminderSettingsView(BaseModel):
    rules: list[ReminderRule]
    templates: dict[str, MessageTemplate]
    quiet_hours: QuietHoursView
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
            quiet_hours=QuietHoursView.model_validate(s.quiet_hours.model_dump()),
            allow_clinician_name=s.allow_clinician_name,
            feed_patient_initials=s.feed_patient_initials,
            sms_number=s.sms_number,
            allowed_placeholders=placeholders,
            version=s.version,
        )


class PatientTemplateIn(RequestModel):
    version: int = Field(ge=0, description="The override's current version (0: none yet).")
    templates: dict[str, MessageTemplateIn] = Field(max_length=12)


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
    """The SNS envelope (signature version 2) holding an AWS End User Messaging two-way SMS
    record. Only its signed fields matter; anything else is ignored."""

    model_config = ConfigDict(extra="ignore")  # a provider webhook: unknown fields are normal

    Type: str | None = Field(default=None, max_length=40)
    MessageId: str | None = Field(default=None, max_length=100)
    TopicArn: str | None = Field(default=None, max_length=300)
    Subject: str | None = Field(default=None, max_length=100)
    Message: str | None = Field(default=None, max_length=8000)
    Timestamp: str | None = Field(default=None, max_length=40)
    SignatureVersion: str | None = Field(default=None, max_length=4)
    Signature: str | None = Field(default=None, max_length=2048)
    SigningCertURL: str | None = Field(default=None, max_length=500)
    SubscribeURL: str | None = Field(default=None, max_length=2000)
    Token: str | None = Field(default=None, max_length=2000)


class CalendarFeedIn(RequestModel):
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
        rules=[to_domain(ReminderRule, r, f"body.rules.{i}") for i, r in enumerate(body.rules)],
        templates=_templates(body.templates),
        quiet_hours=to_domain(QuietHours, body.quiet_hours, "body.quiet_hours"),
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
        patientId, body.version, _templates(body.templates)
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


_CONFIRM = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    "<title>Stop email reminders?</title></head><body><main>"
    "<h1>Stop email reminders?</h1>"
    "<p>You will no longer receive appointment reminders by email from this practice."
    " Your appointments are not changed.</p>"
    '<form method="post" action="{action}">'
    '<button type="submit">Stop email reminders</button></form>'
    "</main></body></html>"
)


@app.get(
    "/v1/reminders/opt-out/<token>",
    summary="The opt-out link in every reminder email: a confirmation page (changes nothing)",
    tags=TAGS,
    responses={200: {"description": "Confirmation page", "content": {"text/html": {}}}},
)
def opt_out_page(token: str) -> Response[str]:
    # Mail scanners fetch links before anyone clicks: a GET only asks. The form posts to
    # the same URL (relative, so it works behind the portal's /v1 proxy too).
    check_link(get_runtime(), token)
    body = _CONFIRM.format(action=html.escape(token, quote=True))
    return Response(
        status_code=200,
        content_type="text/html; charset=utf-8",
        body=body,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


@app.post(
    "/v1/reminders/opt-out/<token>",
    summary="Stop email reminders (the confirmation page's button, or RFC 8058 one-click)",
    tags=TAGS,
    responses={200: {"description": "Done", "content": {"text/html": {}}}},
)
def opt_out(token: str) -> Response[str]:
    # The body (`List-Unsubscribe=One-Click` from a mail client, or the empty form) is not
    # read: the token says everything (app.py lets this route take form bodies).
    opt_out_by_link(get_runtime(), token, request_meta(app))
    return _html(200, "Unsubscribed", "You will no longer receive email reminders.")


@app.post(
    "/v1/sms/inbound",
    summary="Inbound SMS from the stack's SNS topic, signature verified (STOP opts the sender"
    " out of SMS reminders)",
    tags=TAGS,
    responses={
        204: {"description": "Accepted"},
        403: {"description": "Not signed by SNS for this deployment's topic; nothing changed"},
    },
)
def inbound_sms(body: InboundSmsIn) -> Response[str]:
    runtime = get_runtime()
    envelope = body.model_dump(exclude_none=True)
    kind = verifier_for(runtime.settings.sms_topic_arn).verify(envelope)
    if kind == "Notification":
        # Subscription confirmations are done by the operator, never by fetching a URL
        # from a request (docs/deploy.md).
        message = parse_inbound(envelope)
        if message is not None:
            sms_inbound(runtime, message, request_meta(app))
    return no_content()  # the same answer whether or not the sender is known


# ---- calendar feeds -----------------------------------------------------------------------


@app.post(
    "/v1/me/calendar-feeds",
    summary="Create my calendar feed (returns its secret URL once)",
    tags=FEED_TAGS,
    responses=created_doc(CalendarFeedCreated),
    middlewares=[idempotent],
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


@app.post(
    "/v1/me/calendar-feeds/<feedId>/revoke",
    summary="Revoke a calendar feed",
    tags=FEED_TAGS,
    responses=NO_CONTENT_DOC,
)
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


lambda_handler = lambda_entry(
    app,
    "reminders",
    form_resources=frozenset({"/v1/reminders/opt-out/{token}"}),
    # SNS posts its JSON envelope as text/plain.
    text_json_resources=frozenset({"/v1/sms/inbound"}),
)


# ---- the scheduled sweep ------------------------------------------------------------------


def sweep_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    """EventBridge (AWS) / the local scheduler (tpm dev), every 5 minutes. Stops starting
    new work near the timeout; what is left is due at the next run."""
    sweep = ReminderSweep(get_runtime())
    report = sweep.run(lambda: context.get_remaining_time_in_millis() < _SWEEP_MARGIN_MS)
    summary = dict(report.__dict__)
    log.info("reminder sweep", extra=summary)
    return summary

"""Clinicians' calendar feeds: a secret, revocable URL serving their appointments as
RFC 5545 iCalendar, with no patient names or other PHI (summary "Appointment", or the
patient's initials when the practice turns that on; times; the location's name).

The token is shown once at creation and stored only as a hash (tpm.repositories.
public_tokens); revoking deletes the hash, so the URL is a 404 from that moment.
"""

from __future__ import annotations

import secrets
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta

from tpm.adapters.store.base import Absent, ConditionFailed, Item, PracticeStore, Put, VersionIs
from tpm.clock import to_rfc3339
from tpm.domain.reminders import initials
from tpm.domain.scheduling import AppointmentStatus
from tpm.errors import Conflict, NotFound
from tpm.ids import new_id
from tpm.repositories.appointments import AppointmentRepository
from tpm.repositories.catalogue import CatalogueRepository
from tpm.repositories.patients import PatientRepository
from tpm.repositories.public_tokens import PublicTokens
from tpm.repositories.reminders import ReminderSettingsRepository, token_hash
from tpm.repositories.users import UserRepository
from tpm.runtime import Runtime
from tpm.security.audit_chain import AuditEvent
from tpm.services.authentication import RequestMeta
from tpm.services.context import ServiceContext
from tpm.services.rate_limits import enforce

PAST = timedelta(days=30)
AHEAD = timedelta(days=180)
MAX_EVENTS = 2000
MAX_FEEDS = 5


@dataclass(frozen=True)
class CalendarFeed:
    id: str
    label: str
    created_at: str
    revoked_at: str | None
    version: int


def _pk(user_id: str) -> str:
    return f"CALENDAR_FEEDS#{user_id}"


def _feed(item: Item) -> CalendarFeed:
    return CalendarFeed(
        id=str(item["id"]),
        label=str(item["label"]),
        created_at=str(item["created_at"]),
        revoked_at=None if item.get("revoked_at") is None else str(item["revoked_at"]),
        version=int(item["version"]),
    )


class CalendarFeedService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def _authorize(self, feed_id: str = "") -> None:
        ctx = self.ctx
        self.access = ctx.authorize(
            "calendar_feed.manage",
            resource_kind="calendar_feed",
            resource_id=feed_id,
            user_id=ctx.principal.user_id,
        )

    def create(self, label: str) -> tuple[CalendarFeed, str]:
        """The new feed and its secret token (returned only now)."""
        ctx = self.ctx
        self._authorize()
        uid = ctx.principal.user_id
        enforce(ctx.store, ctx.runtime.clock, "calendar-feed-create", uid, 10, 3600)
        live = [f for f in self._feeds(uid) if f.revoked_at is None]
        if len(live) >= MAX_FEEDS:
            raise Conflict("Revoke a calendar feed before creating another.", limit=MAX_FEEDS)
        token = secrets.token_urlsafe(32)
        feed = CalendarFeed(new_id("cal"), label, to_rfc3339(ctx.now()), None, 1)
        # Registered first: a token whose feed row never got written serves nothing.
        PublicTokens(ctx.runtime.store).register(
            token, "calendar", ctx.practice_id, feed_id=feed.id, user_id=uid
        )
        item = {"pk": _pk(uid), "sk": feed.id, **feed.__dict__, "token_hash": token_hash(token)}
        ctx.write(self.access, lambda: [Put(item, Absent())], "calendar_feed", feed.id)
        return feed, token

    def list_feeds(self) -> list[CalendarFeed]:
        self._authorize()
        feeds = self._feeds(self.ctx.principal.user_id)
        self.ctx.record(self.access, "calendar_feed")
        return feeds

    def revoke(self, feed_id: str) -> None:
        ctx = self.ctx
        self._authorize(feed_id)
        uid = ctx.principal.user_id
        item = ctx.store.get(_pk(uid), feed_id)
        if item is None:
            raise NotFound()
        feed = _feed(item)
        PublicTokens(ctx.runtime.store).revoke(str(item["token_hash"]))
        if feed.revoked_at is not None:
            return
        revoked = {**item, "revoked_at": to_rfc3339(ctx.now()), "version": feed.version + 1}
        with suppress(ConditionFailed):  # revoked concurrently: the URL is dead either way
            ctx.write(
                self.access,
                lambda: [Put(revoked, VersionIs(feed.version))],
                "calendar_feed",
                feed_id,
                reason_code="revoked",
            )

    def _feeds(self, user_id: str) -> list[CalendarFeed]:
        page = self.ctx.store.query(_pk(user_id), limit=100)
        return [_feed(i) for i in page.items]


def serve_feed(runtime: Runtime, token: str, meta: RequestMeta) -> bytes:
    """The iCalendar document behind a feed token; NotFound for unknown or revoked."""
    entry = PublicTokens(runtime.store).resolve(token, "calendar")
    if entry is None:
        raise NotFound()
    practice_id, user_id = str(entry["practice_id"]), str(entry["user_id"])
    store = runtime.store.practice(practice_id)
    item = store.get(_pk(user_id), str(entry["feed_id"]))
    if item is None or item.get("revoked_at") is not None:
        raise NotFound()
    user = UserRepository(store, runtime.cipher).get(user_id)
    if user is None or user.status.value != "active":
        raise NotFound()  # a deactivated clinician's feed dies with the account
    document = _calendar(runtime, store, user_id, runtime.clock.now())
    runtime.audit.record(
        store,
        AuditEvent(
            practice_id=practice_id,
            actor_kind="anonymous",
            actor_id="calendar-feed",
            action="calendar_feed.read",
            resource_kind="calendar_feed",
            resource_id=str(item["id"]),
            source_ip=meta.source_ip,
            user_agent=meta.user_agent,
            request_id=meta.request_id,
        ),
    )
    return document


def _calendar(runtime: Runtime, store: PracticeStore, clinician_id: str, now: datetime) -> bytes:
    settings = ReminderSettingsRepository(store, runtime.cipher).get()
    appointments = AppointmentRepository(store, runtime.cipher)
    catalogue = CatalogueRepository(store)
    patients = PatientRepository(store, runtime.cipher)
    locations: dict[str, str] = {}
    # icalendar costs ~45 ms to import; only the feed route needs it.
    from icalendar import Calendar, Event

    calendar = Calendar()
    calendar.add("prodid", "-//tpm//calendar feed//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", "Appointments")
    cursor: str | None = None
    count = 0
    while count < MAX_EVENTS:
        page, cursor = appointments.for_clinician(
            clinician_id, now - PAST, now + AHEAD, 500, cursor
        )
        for appt in page:
            if appt.status in (AppointmentStatus.CANCELLED, AppointmentStatus.NO_SHOW):
                continue
            if appt.location_id not in locations:
                location = catalogue.location(appt.location_id)
                locations[appt.location_id] = location.name if location else ""
            summary = "Appointment"
            if settings.feed_patient_initials and len(appt.patient_ids) == 1:
                patient = patients.get(appt.patient_ids[0])
                if patient is not None:
                    summary = (
                        f"Appointment {initials(patient.legal_first_name, patient.legal_last_name)}"
                    )
            event = Event()
            event.add("uid", f"{appt.id}@tpm")
            event.add("dtstamp", now)
            event.add("dtstart", appt.start)
            event.add("dtend", appt.end)
            event.add("summary", summary)
            if locations[appt.location_id]:
                event.add("location", locations[appt.location_id])
            event.add("status", "CONFIRMED")
            calendar.add_component(event)
            count += 1
        if cursor is None:
            break
    return bytes(calendar.to_ical())

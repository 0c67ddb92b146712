"""Waitlist: patients waiting for an earlier slot; a cancellation offers the freed slot to
matching entries, and the first to claim it gets it.

First claim wins without any extra machinery: a claim is a booking, so its slot locks are
written with Absent() and a second claim (or a staff booking in between) fails with 409.
The offer message itself goes through the reminders outbox (reminder_hooks). The offer id
is the claim token: unguessable (ULID), sent only to that patient, and only usable by the
patient it was made for, signed in to the portal.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from tpm.adapters.store.base import ConditionFailed, Operation
from tpm.domain.scheduling import Appointment
from tpm.errors import Conflict, NotFound, ValidationFailed, VersionConflict
from tpm.ids import new_id
from tpm.repositories.waitlist import Offer, TimeWindow, WaitlistEntry, WaitlistRepository
from tpm.security.policy import Scope
from tpm.services import reminder_hooks
from tpm.services.context import ServiceContext
from tpm.services.rate_limits import enforce

if TYPE_CHECKING:
    from tpm.services.scheduling import Bookings

OFFERS_PER_SLOT = 3
OFFER_LIFETIME = timedelta(hours=24)
WAITLIST_PER_DAY = 10


OfferState = Literal["open", "claimed", "taken", "expired"]
MAX_OFFER_DAYS = timedelta(days=100)


def offer_state(offer: Offer, claimed: set[tuple[str, datetime]], now: datetime) -> OfferState:
    """claimed: this patient took the slot; taken: another offer of the same slot was
    claimed first; expired: nobody claimed it in time."""
    if offer.status == "claimed":
        return "claimed"
    if (offer.clinician_id, offer.start) in claimed:
        return "taken"
    return "expired" if offer.expires <= now else "open"


def matches(entry: WaitlistEntry, appt: Appointment) -> bool:
    if entry.clinician_id not in (None, appt.clinician_id):
        return False
    if entry.service_id not in (None, appt.service_id):
        return False
    if entry.patient_id in appt.patient_ids:
        return False  # the patient who just cancelled is not offered their own slot
    return any(w.start <= appt.start and appt.end <= w.end for w in entry.windows)


def offer_ops(b: Bookings, cancelled: Appointment) -> list[Operation]:
    """Offers (and their outbox messages) for a slot that `cancelled` just freed; empty for
    a slot already in the past or a group appointment."""
    now = b.ctx.now()
    if cancelled.start <= now or len(cancelled.patient_ids) != 1:
        return []
    repo = WaitlistRepository(b.ctx.store, b.ctx.runtime.cipher)
    ops: list[Operation] = []
    for entry in [e for e in repo.waiting() if matches(e, cancelled)][:OFFERS_PER_SLOT]:
        offer = Offer(
            id=new_id("wof"),
            entry_id=entry.id,
            patient_id=entry.patient_id,
            clinician_id=cancelled.clinician_id,
            service_id=cancelled.service_id,
            location_id=cancelled.location_id,
            location_kind=cancelled.location_kind,
            start=cancelled.start,
            end=cancelled.end,
            expires=min(cancelled.start, now + OFFER_LIFETIME),
            source_appointment_id=cancelled.id,
        )
        ops.append(repo.offer_op(offer))
        ops += reminder_hooks.on_waitlist_offer(
            b.ctx.store, b.ctx.runtime.cipher, b.practice, offer, now=now
        )
    return ops


class WaitlistService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.repo = WaitlistRepository(ctx.store, ctx.runtime.cipher)

    def add(
        self,
        patient_id: str,
        windows: list[tuple[datetime, datetime]],
        clinician_id: str | None,
        service_id: str | None,
    ) -> WaitlistEntry:
        ctx = self.ctx
        access = ctx.authorize("waitlist.create", resource_kind="waitlist", patient_id=patient_id)
        if ctx.principal.patient_id is not None:
            enforce(
                ctx.store,
                ctx.runtime.clock,
                "waitlist",
                ctx.principal.user_id,
                WAITLIST_PER_DAY,
                86400,
            )
        if any(end <= start for start, end in windows):
            raise ValidationFailed(fields=[{"path": "body.windows", "type": "end_before_start"}])
        entry = WaitlistEntry(
            id=new_id("wtl"),
            patient_id=patient_id,
            clinician_id=clinician_id,
            service_id=service_id,
            windows=tuple(TimeWindow(start=s, end=e) for s, e in windows),
            created_at=ctx.now(),
            created_by=ctx.principal.user_id,
        )
        from tpm.services.scheduling import patient_check

        try:
            ctx.write(
                access,
                lambda: [self.repo.entry_op(entry), patient_check(patient_id)],
                "waitlist",
                entry.id,
                patient_id=patient_id,
            )
        except ConditionFailed as exc:
            raise NotFound() from exc  # no such patient
        return entry

    def remove(self, entry_id: str, version: int) -> WaitlistEntry:
        """Takes a waiting patient off the waitlist: no more offers are made to them (open
        offers already sent may still be claimed until they expire)."""
        ctx = self.ctx
        ctx.authorize_list("waitlist.remove", resource_kind="waitlist")
        entry = self.repo.entry(entry_id)
        if entry is None:
            raise NotFound()
        access = ctx.authorize(
            "waitlist.remove",
            resource_kind="waitlist",
            resource_id=entry_id,
            patient_id=entry.patient_id,
        )
        if entry.version != version:
            raise VersionConflict(current_version=entry.version)
        if entry.status != "waiting":
            raise Conflict("This entry is no longer waiting.", reason="not_waiting")
        removed = entry.model_copy(update={"status": "removed", "version": version + 1})
        try:
            ctx.write(
                access,
                lambda: [self.repo.entry_op(removed)],
                "waitlist",
                entry_id,
                patient_id=entry.patient_id,
            )
        except ConditionFailed as exc:
            raise VersionConflict() from exc
        return removed

    def page(self, limit: int, cursor: str | None) -> tuple[list[WaitlistEntry], str | None]:
        ctx = self.ctx
        scopes = ctx.authorize_list("waitlist.list", resource_kind="waitlist")
        patient_id = None if Scope.PRACTICE in scopes else ctx.principal.patient_id
        if Scope.PRACTICE not in scopes and patient_id is None:
            raise NotFound()
        entries, next_cursor = self.repo.page(patient_id, limit, cursor)
        ctx.runtime.audit.record(
            ctx.store,
            ctx.event(
                "waitlist.list",
                "waitlist",
                patient_id=patient_id,
                reason_code=f"count_{len(entries)}",
            ),
        )
        return entries, next_cursor

    def offers(
        self, start: datetime, end: datetime, limit: int, cursor: str | None
    ) -> tuple[list[tuple[Offer, OfferState]], str | None]:
        """Offers of freed slots starting in [start, end) with where each stands (staff:
        the calendar shows them on the cancelled visit)."""
        ctx = self.ctx
        ctx.authorize_list("waitlist.offer.list", resource_kind="waitlist")
        if end <= start or end - start > MAX_OFFER_DAYS:
            raise ValidationFailed(
                fields=[{"path": "query.to", "type": "range"}], max_days=MAX_OFFER_DAYS.days
            )
        found, next_cursor = self.repo.offers_between(start, end, limit, cursor)
        claimed = {(o.clinician_id, o.start) for o in found if o.status == "claimed"}
        now = ctx.now()
        ctx.runtime.audit.record(
            ctx.store,
            ctx.event("waitlist.offer.list", "waitlist", reason_code=f"count_{len(found)}"),
        )
        return [(o, offer_state(o, claimed, now)) for o in found], next_cursor

    def claim(self, offer_id: str) -> Appointment:
        from tpm.services.scheduling import BookingRequest, Bookings

        ctx = self.ctx
        ctx.authorize_list("waitlist.claim", resource_kind="waitlist")
        offer = self.repo.offer(offer_id)
        if offer is None:
            raise NotFound()
        access = ctx.authorize(
            "waitlist.claim",
            resource_kind="waitlist",
            resource_id=offer_id,
            patient_id=offer.patient_id,
        )
        if offer.status != "open" or offer.expires <= ctx.now():
            raise Conflict("This offer is no longer available.", reason="offer_closed")
        b = Bookings(ctx)
        service = b.service(offer.service_id)
        location = b.location(offer.location_id)
        req = BookingRequest(
            (offer.patient_id,), offer.clinician_id, service.id, location.id, offer.start
        )
        appt = b.new_appointment(req, service, location)
        claimed = offer.model_copy(
            update={"status": "claimed", "appointment_id": appt.id, "version": offer.version + 1}
        )
        entry = self.repo.entry(offer.entry_id)

        def build() -> list[Operation]:
            ops = [*b.booking_ops(appt), self.repo.offer_op(claimed)]
            if entry is not None and entry.status == "waiting":
                done = entry.model_copy(update={"status": "booked", "version": entry.version + 1})
                ops.append(self.repo.entry_op(done))
            return ops

        b.commit(access, build, appt, reason_code="waitlist_claim")
        return appt

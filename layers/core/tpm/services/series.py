"""Recurring series: book every occurrence or none; "this and following" splits a series.

A 52-week series of 50-minute office visits holds 52 x (1 + patients + 8 locks) items,
more than one transaction takes (100), so occurrences are committed in chunks. If a later
chunk hits a taken slot, the chunks already committed are undone (compensation) and the
409 lists every conflicting occurrence by index and local date (never a name).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import partial
from zoneinfo import ZoneInfo

from tpm.adapters.store.base import MAX_TRANSACTION_ITEMS, Check, ConditionFailed, Operation
from tpm.domain import recurrence
from tpm.domain.scheduling import (
    Appointment,
    AppointmentStatus,
    Location,
    Service,
    SlotUnavailable,
    slot_starts,
    utc,
)
from tpm.errors import NotFound, ValidationFailed, VersionConflict
from tpm.ids import new_id
from tpm.repositories.appointments import Series, merge_lock_ops
from tpm.security.audit import AUDIT_OPS_MAX
from tpm.security.policy import Access
from tpm.services.context import ServiceContext
from tpm.services.scheduling import BookingRequest, Bookings, explain

CHUNK_OPS = MAX_TRANSACTION_ITEMS - AUDIT_OPS_MAX


@dataclass(frozen=True)
class SeriesRequest:
    patient_ids: tuple[str, ...]
    clinician_id: str
    service_id: str
    location_id: str
    rrule: str
    start_local: datetime
    timezone: str
    count: int | None = None
    until: date | None = None
    override: str | None = None  # why outside the clinician's availability (staff only)


@dataclass
class Unit:
    """One occurrence's change and how to undo it."""

    appt: Appointment
    forward: list[Operation]
    undo: Callable[[], list[Operation]]


class SeriesConflict(SlotUnavailable):
    message = "Some occurrences of the series collide with existing bookings."


class SeriesService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.b = Bookings(ctx)
        self.repo = self.b.appointments

    def book(self, req: SeriesRequest) -> tuple[Series, list[Appointment]]:
        access = self._authorize(req.patient_ids)
        service, location = self.b.service(req.service_id), self.b.location(req.location_id)
        self.b.check_clinician(req.clinician_id)
        series = Series(
            id=new_id("ser"),
            rrule=req.rrule,
            start_local=req.start_local.replace(tzinfo=None),
            timezone=req.timezone,
            clinician_id=req.clinician_id,
            patient_ids=req.patient_ids,
            service_id=service.id,
            location_id=location.id,
            appointment_ids=(),
            created_by=self.ctx.principal.user_id,
        )
        appts = self._occurrences(series, service, location, req.count, req.until, first_index=0)
        # Every occurrence inside the clinician's availability, or one override for those
        # outside (422 lists them by index and local date).
        appts, override = self.b.gate(appts, req.override, series_zone=req.timezone)
        series = series.model_copy(update={"appointment_ids": tuple(a.id for a in appts)})
        units = [Unit(a, self.b.booking_ops(a), partial(self.repo.delete_ops, a)) for a in appts]
        header = [self.repo.series_op(series)]
        self._apply(
            access,
            units,
            header,
            [self.repo.series_delete_op(series.id)],
            series,
            override=override,
        )
        return series, appts

    def get(self, series_id: str) -> Series:
        """A series (its rule, occurrences and version: what a "this and following" change
        needs), for whoever may read every patient's appointments in it."""
        ctx = self.ctx
        ctx.authorize_list("appointment.read", resource_kind="appointment")
        series = self.repo.series(series_id)
        if series is None:
            raise NotFound()
        access = self._authorize(series.patient_ids, "appointment.read")
        ctx.record(access, "appointment", series_id, patient_id=series.patient_ids[0])
        return series

    def split(
        self,
        series_id: str,
        version: int,
        from_index: int,
        changes: dict[str, object],
        override: str | None = None,
    ) -> tuple[Series, list[Appointment]]:
        """Ends the series before occurrence `from_index`; the booked occurrences from
        there on move to a new series built with `changes` (new time of day, rule,
        clinician or location), all or nothing. The new occurrences follow the booking
        rule: inside the clinician's availability, or an override with a reason."""
        ctx = self.ctx
        ctx.authorize_list("appointment.reschedule", resource_kind="appointment")
        old = self.repo.series(series_id)
        if old is None:
            raise NotFound()
        access = self._authorize(old.patient_ids, "appointment.reschedule")
        if old.version != version:
            raise VersionConflict(current_version=old.version)
        remaining = old.appointment_ids[from_index:]
        if not remaining or (old.ended_at_index is not None and from_index >= old.ended_at_index):
            raise ValidationFailed(
                fields=[{"path": "body.from_occurrence", "type": "out_of_range"}]
            )
        current = [a for a in (self.repo.get(i) for i in remaining) if a is not None]
        pivot = next((a for a in current if a.series_index == from_index), None)
        if pivot is None:
            raise ValidationFailed(
                fields=[{"path": "body.from_occurrence", "type": "out_of_range"}]
            )
        moving = [a for a in current if a.status is AppointmentStatus.BOOKED and not a.detached]
        clinician = str(changes.get("clinician_id") or old.clinician_id)
        if clinician != old.clinician_id:
            self.b.check_clinician(clinician)
        service = self.b.service(old.service_id)
        location = self.b.location(str(changes.get("location_id") or old.location_id))
        zone = ZoneInfo(old.timezone)
        local_pivot = pivot.start.astimezone(zone).replace(tzinfo=None)
        new_time = changes.get("start_time")
        if isinstance(new_time, time):
            local_pivot = datetime.combine(local_pivot.date(), new_time)
        new = Series(
            id=new_id("ser"),
            rrule=str(changes.get("rrule") or old.rrule),
            start_local=local_pivot,
            timezone=old.timezone,
            clinician_id=clinician,
            patient_ids=old.patient_ids,
            service_id=service.id,
            location_id=location.id,
            appointment_ids=(),
            created_by=ctx.principal.user_id,
        )
        appts = self._occurrences(new, service, location, len(remaining), None, first_index=0)
        appts, allowed = self.b.gate(appts, override, series_zone=new.timezone)
        new = new.model_copy(update={"appointment_ids": tuple(a.id for a in appts)})
        ended = old.model_copy(
            update={"ended_at_index": from_index, "followed_by": new.id, "version": version + 1}
        )
        units: list[Unit] = []
        for before in moving:
            after = before.bump(
                status=AppointmentStatus.CANCELLED, cancelled_at=ctx.now(), cancelled_reason=None
            )
            units.append(
                Unit(
                    before,
                    self.b.change_ops(before, after),
                    partial(self._restore, before, after),
                )
            )
        units += [Unit(a, self.b.booking_ops(a), partial(self.repo.delete_ops, a)) for a in appts]
        # Old and new occurrences in date order, so a move within a day shares a chunk.
        units.sort(key=lambda u: u.appt.start)
        header = [self.repo.series_op(ended), self.repo.series_op(new)]
        restored = old.model_copy(update={"version": version + 2})
        header_undo: list[Operation] = [
            self.repo.series_op(restored),
            self.repo.series_delete_op(new.id),
        ]
        ignore = {
            (resource, block)
            for a in moving
            for resource in self._resources(a)
            for block in slot_starts(a.start, a.end)
        }
        self._apply(access, units, header, header_undo, new, "series_split", ignore, allowed)
        return new, appts

    # ---- helpers ------------------------------------------------------------------------

    def _restore(self, before: Appointment, cancelled: Appointment) -> list[Operation]:
        restored = before.model_copy(update={"version": cancelled.version + 1})
        return [*self.repo.update_ops(cancelled, restored), *self.b.reminder_ops(restored)]

    @staticmethod
    def _resources(appt: Appointment) -> list[str]:
        found = [f"CLN#{appt.clinician_id}"]
        if appt.holds_room:
            found.append(f"LOC#{appt.location_id}")
        return found

    def _authorize(self, patient_ids: tuple[str, ...], action: str = "appointment.book") -> Access:
        accesses = [
            self.ctx.authorize(action, resource_kind="appointment", patient_id=pid)
            for pid in patient_ids
        ]
        return accesses[0]

    def _occurrences(
        self,
        series: Series,
        service: Service,
        location: Location,
        count: int | None,
        until: date | None,
        first_index: int,
    ) -> list[Appointment]:
        starts = recurrence.expand(
            series.rrule, series.start_local, series.timezone, count=count, until=until
        )
        base = BookingRequest(
            series.patient_ids, series.clinician_id, service.id, location.id, starts[0]
        )
        return [
            self.b.new_appointment(
                BookingRequest(
                    base.patient_ids, base.clinician_id, base.service_id, base.location_id, start
                ),
                service,
                location,
                series_id=series.id,
                series_index=first_index + i,
            )
            for i, start in enumerate(starts)
        ]

    def _apply(
        self,
        access: Access,
        units: list[Unit],
        header: Sequence[Operation],
        header_undo: Sequence[Operation],
        series: Series,
        reason_code: str = "series",
        ignore: frozenset[tuple[str, datetime]] | set[tuple[str, datetime]] = frozenset(),
        override: Access | None = None,
    ) -> None:
        chunks: list[list[Unit]] = [[]]
        size = len(header) + (1 if override is not None else 0)  # the override's event
        for unit in units:
            if chunks[-1] and size + len(unit.forward) > CHUNK_OPS:
                chunks.append([])
                size = 0
            chunks[-1].append(unit)
            size += len(unit.forward)
        done: list[list[Unit]] = []
        for n, chunk in enumerate(chunks):
            ops = _one_check_each(
                merge_lock_ops(
                    [*(header if n == 0 else []), *(op for u in chunk for op in u.forward)]
                )
            )
            events = [
                self.ctx.event(
                    access.action,
                    "appointment_series",
                    series.id,
                    patient_id=series.patient_ids[0],
                    break_glass=access.break_glass,
                    reason_code=reason_code,
                )
            ]
            if n == 0 and override is not None:
                # The override is audited once, with the series, in its first commit.
                events.append(
                    self.b.override_event(
                        override, "appointment_series", series.id, series.patient_ids[0]
                    )
                )
            try:
                self.ctx.runtime.audit.write_many_with_audit(
                    self.ctx.store, partial(list, ops), events
                )
            except ConditionFailed as exc:
                failure = explain(ops, exc, chunk[0].appt)
                self._undo(access, done, header_undo, series)
                if isinstance(failure, SlotUnavailable):
                    raise self._conflicts(units, series, ignore) from exc
                raise failure from exc
            done.append(chunk)

    def _undo(
        self,
        access: Access,
        done: list[list[Unit]],
        header_undo: Sequence[Operation],
        series: Series,
    ) -> None:
        for n in reversed(range(len(done))):
            ops = merge_lock_ops([op for u in done[n] for op in u.undo()])
            if n == 0:
                ops += list(header_undo)
            self.ctx.write(
                access,
                partial(list, ops),
                "appointment_series",
                series.id,
                patient_id=series.patient_ids[0],
                reason_code="series_rollback",
            )

    def _conflicts(
        self,
        units: list[Unit],
        series: Series,
        ignore: frozenset[tuple[str, datetime]] | set[tuple[str, datetime]],
    ) -> SeriesConflict:
        """Every new occurrence whose blocks are taken, by index and local date (blocks
        the split's own old occurrences hold do not count)."""
        zone = ZoneInfo(series.timezone)
        found = []
        for appt in (u.appt for u in units if u.appt.series_id == series.id):
            blocks = set(slot_starts(appt.start, appt.end))
            for resource in self._resources(appt):
                taken = self.repo.busy_blocks(resource, appt.start, appt.end) & blocks
                if {b for b in taken if (resource, b) not in ignore}:
                    local = utc(appt.start).astimezone(zone)
                    found.append({"index": appt.series_index, "date": local.date().isoformat()})
                    break
        return SeriesConflict(occurrences=found)


def _one_check_each(ops: list[Operation]) -> list[Operation]:
    """Occurrences of one series check the same patients; a transaction checks each once."""
    seen: set[tuple[str, str]] = set()
    kept: list[Operation] = []
    for op in ops:
        if isinstance(op, Check):
            if (op.pk, op.sk) in seen:
                continue
            seen.add((op.pk, op.sk))
        kept.append(op)
    return kept

"""Scheduling -> reminders: the operations a booking, cancellation or waitlist offer adds to
its OWN transaction (so a booking and its reminders commit together, or neither).

    ops += on_booked(ctx.store, cipher, practice, appointment, now=ctx.now())
    ops += on_cancelled(ctx.store, appointment)            # cancel: the appointment as it was
    # reschedule: on_cancelled(store, before) + on_booked(..., after)  (after.version > before)

Each rule of the practice's reminder settings becomes one due row per appointment (its
patients listed in it); the sweep (tpm.services.reminder_sweep) sends them when due and
checks, at send time, that the appointment is still booked at that time and that each
patient still wants that channel. Keys carry the appointment's version, so a reschedule's
new rows never collide with the rows it deletes.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any

from tpm.adapters.store.base import Operation, PracticeStore
from tpm.domain.practice import Practice
from tpm.domain.reminders import Channel, ReminderSettings, due_at
from tpm.domain.scheduling import Appointment
from tpm.repositories.reminders import DueReminder, DueRepository, ReminderSettingsRepository
from tpm.security.envelope import FieldCipher

# Booking is the hot path: the rules are read at most every few seconds per practice
# rather than on every booking. Saving settings clears this process's copy at once.
_CACHE_SECONDS = 10.0
_cache: dict[str, tuple[float, ReminderSettings]] = {}
_cache_lock = threading.Lock()


def cached_settings(store: PracticeStore, cipher: FieldCipher) -> ReminderSettings:
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(store.practice_id)
    if hit is not None and hit[0] > now:
        return hit[1]
    settings = ReminderSettingsRepository(store, cipher).get()
    with _cache_lock:
        _cache[store.practice_id] = (now + _CACHE_SECONDS, settings)
    return settings


def forget_settings(practice_id: str) -> None:
    with _cache_lock:
        _cache.pop(practice_id, None)


def on_booked(
    store: PracticeStore,
    cipher: FieldCipher,
    practice: Practice,
    appointment: Appointment,
    *,
    now: datetime | None = None,
) -> list[Operation]:
    """Due rows for every active rule (confirmation: due at once), plus one row that lists
    them so a cancellation can find them. Rules already past (booked late) are left out."""
    settings = cached_settings(store, cipher)
    booked_at = now or appointment.created_at
    rows: list[DueReminder] = []
    for rule in settings.rules:
        if not rule.active:
            continue
        due = due_at(rule, appointment.start, booked_at)
        if due is None:
            continue
        rows.append(
            DueReminder(
                due=due,
                appointment_id=appointment.id,
                rule_id=rule.id,
                kind=rule.kind,
                channel=rule.channel,
                patient_ids=tuple(appointment.patient_ids),
                start=appointment.start,
                appointment_version=appointment.version,
                clinician_id=appointment.clinician_id,
            )
        )
    if not rows:
        return []
    return [
        *(DueRepository.create_op(r) for r in rows),
        DueRepository.schedule_op(appointment.id, appointment.version, [r.sk for r in rows]),
    ]


def on_cancelled(store: PracticeStore, appointment: Appointment) -> list[Operation]:
    """Deletes the appointment's pending reminders (any version). A row the sweep moved
    meanwhile (quiet hours, retry) is caught at send time: the sweep skips a cancelled
    or moved appointment."""
    return DueRepository(store).cancel_ops(appointment.id)


def on_waitlist_offer(
    store: PracticeStore,
    cipher: FieldCipher,
    practice: Practice,
    offer: Any,
    *,
    now: datetime | None = None,
) -> list[Operation]:
    """An immediate offer message to one waitlisted patient, on every channel (the sweep
    sends only on the channels the patient accepts). `offer` needs: id, patient_id,
    start (aware datetime of the freed slot), clinician_id, and created_at or `now`."""
    when: datetime = now or offer.created_at
    channels: tuple[Channel, ...] = ("email", "sms")
    return [
        DueRepository.create_op(
            DueReminder(
                due=when,
                appointment_id=str(offer.id),
                rule_id=f"offer-{channel}",
                kind="waitlist_offer",
                channel=channel,
                patient_ids=(str(offer.patient_id),),
                start=offer.start,
                appointment_version=int(getattr(offer, "version", 1)),
                clinician_id=str(getattr(offer, "clinician_id", "") or ""),
            )
        )
        for channel in channels
    ]

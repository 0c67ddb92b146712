"""The reminder sweep: send every due message exactly once.

Exactly once, in three steps per due row (appointment x rule):
1. CLAIM before sending: the row moves due -> sending with VersionIs(its version), in
   batches. Of two sweeps (or one run twice) that read the same row, exactly one claim
   commits; the other drops the row. The claim's holder is the only sender.
2. SEND to each patient of the row, after checking at send time that the appointment is
   still booked at the time the row was made for, that the patient still accepts the
   channel (an opt-out counts at once) and that no delivery was logged for this
   appointment x rule x patient already (the idempotency key).
3. FINISH: per patient the delivery-log row (Absent: the idempotency key), the sealed
   outbox copy and the audit event (system actor "reminder-sweep", action reminder.send,
   the patient, the appointment); then the due row's removal. A transient failure
   re-queues the patient with backoff, up to MAX_ATTEMPTS, then logs "failed". Finished
   rows are packed into transactions of up to 100 items with their audit events chained
   in order (AuditTrail.write_many_with_audit): one durable commit covers ~19 messages.

A sweep that dies between claim and finish leaves a "sending" row; after LEASE it is
logged as failed/interrupted and NOT re-sent (the provider may have delivered it): at most
once beats twice for a message about someone's health care.

Quiet hours: while the practice's quiet hours last, nothing is sent; due rows simply wait
for the first sweep after they end. Logs carry ids and counts only.
"""

from __future__ import annotations

import time as time_module
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from tpm.adapters.notify import DeliveryRejected
from tpm.adapters.store.base import (
    MAX_TRANSACTION_ITEMS,
    ConditionFailed,
    Operation,
    PracticeStore,
    TransactionConflict,
)
from tpm.clock import to_rfc3339
from tpm.domain.patients import Patient
from tpm.domain.practice import Practice
from tpm.domain.reminders import (
    MAX_ATTEMPTS,
    Channel,
    MessageTemplate,
    ReminderSettings,
    format_local_time,
    in_quiet_hours,
    render,
    retry_delay,
    template_key,
)
from tpm.domain.scheduling import AppointmentStatus
from tpm.domain.vendors import AgreementRequired
from tpm.errors import DependencyUnavailable, RateLimited
from tpm.ids import new_id
from tpm.observability import get_logger
from tpm.repositories.appointments import AppointmentRepository
from tpm.repositories.catalogue import CatalogueRepository
from tpm.repositories.patients import PatientRepository
from tpm.repositories.reminders import (
    DUE_PK,
    DueReminder,
    DueRepository,
    OptOutTokens,
    OutboxRepository,
    ReminderSettingsRepository,
    Status,
    due_from_item,
    log_op,
    opt_out_token,
)
from tpm.repositories.users import UserRepository
from tpm.runtime import Runtime
from tpm.security.audit import audit_ops_needed
from tpm.security.audit_chain import AuditEvent
from tpm.security.principal import SystemActor
from tpm.services.agreements import AgreementGuard
from tpm.services.practices import all_practice_ids, get_practice
from tpm.services.rate_limits import enforce

log = get_logger("reminders")

ACTOR = "reminder-sweep"
LEASE = timedelta(minutes=15)
CLAIM_BATCH = 50
PAGE = 500
# Abuse limit: however many bookings someone makes, one patient gets at most this many
# texts a day (SMS costs money and can be pumped).
SMS_PER_PATIENT_PER_DAY = 12


@dataclass
class SweepReport:
    practices: int = 0
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    retried: int = 0
    contended: int = 0
    interrupted: int = 0
    quiet: int = 0
    errors: int = 0

    def add(self, other: SweepReport) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class Outcome:
    patient_id: str
    status: Status | None  # None: transient failure, re-queue
    reason: str
    message: dict[str, Any] | None = None  # what was sent (for the outbox copy)
    extra_ops: list[Operation] = field(default_factory=list)  # e.g. the opt-out token row


@dataclass
class _Unit:
    """The writes that finish one due row, and what they count for."""

    row: DueReminder
    entries: list[tuple[list[Operation], AuditEvent | None]] = field(default_factory=list)
    closing: list[Operation] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def operations(self) -> list[Operation]:
        return [op for ops, _ in self.entries for op in ops] + self.closing

    @property
    def audit_events(self) -> list[AuditEvent]:
        return [e for _, e in self.entries if e is not None]

    @property
    def size(self) -> int:
        return len(self.operations)

    @property
    def events(self) -> int:
        return len(self.audit_events)

    def report(self, report: SweepReport) -> None:
        for name, n in self.counts.items():
            setattr(report, name, getattr(report, name) + n)


@dataclass
class _Practice:
    """What one run reads once per practice."""

    practice: Practice
    settings: ReminderSettings
    portal_url: str
    store: PracticeStore
    guard: AgreementGuard  # the business associate register, asked before every send
    opt_out_tokens: dict[str, str] = field(default_factory=dict)
    clinicians: dict[str, str] = field(default_factory=dict)


class ReminderSweep:
    def __init__(self, runtime: Runtime, *, run_id: str | None = None) -> None:
        self.rt = runtime
        self.run_id = run_id or new_id("run")

    # ---- all practices --------------------------------------------------------------------

    def run(self, should_stop: Callable[[], bool] = lambda: False) -> SweepReport:
        report = SweepReport()
        for practice_id in all_practice_ids(self.rt.store):
            if should_stop():
                break
            report.practices += 1
            try:
                report.add(self.sweep_practice(practice_id, should_stop))
            except Exception as exc:  # one practice's failure must not stop the others
                report.errors += 1
                log.error(
                    "reminder sweep failed for a practice",
                    extra={"practice_id": practice_id, "error_type": type(exc).__name__},
                )
        return report

    # ---- one practice ---------------------------------------------------------------------

    def sweep_practice(
        self, practice_id: str, should_stop: Callable[[], bool] = lambda: False
    ) -> SweepReport:
        report = SweepReport()
        store = self.rt.store.practice(practice_id)
        now = self.rt.clock.now()
        practice = get_practice(self.rt.store, practice_id)
        settings = ReminderSettingsRepository(store, self.rt.cipher).get()
        if in_quiet_hours(now, settings.quiet_hours, practice.timezone):
            report.quiet = 1
            return report
        actor = SystemActor(ACTOR, practice_id, request_id=self.run_id)
        guard = AgreementGuard(self.rt, store, actor)
        here = _Practice(practice, settings, self.rt.settings.portal_url, store, guard)
        due = DueRepository(store)
        cursor: str | None = None
        while not should_stop():
            items, cursor = due.due_before(now, PAGE, cursor)
            rows = [due_from_item(i) for i in items]
            fresh = [r for r in rows if r.status == "due"]
            for stale in (r for r in rows if r.status == "sending"):
                if stale.claimed_at is not None and _parse(stale.claimed_at) + LEASE <= now:
                    self._interrupted(here, stale, report)
            for start in range(0, len(fresh), CLAIM_BATCH):
                if should_stop():
                    break
                claimed = self._claim(store, fresh[start : start + CLAIM_BATCH], now, report)
                units = [self._deliver(here, row, now) for row in claimed]
                self._commit_units(here, units, report)
            if cursor is None:
                break
        return report

    # ---- claim ----------------------------------------------------------------------------

    def _claim(
        self, store: PracticeStore, rows: list[DueReminder], now: datetime, report: SweepReport
    ) -> list[DueReminder]:
        """Claims as many of `rows` as nobody else has; returns them as claimed."""
        pending = list(rows)
        for attempt in range(8):
            if not pending:
                return []
            ops: list[Operation] = [
                DueRepository.transition_op(r, status="sending", claimed_at=to_rfc3339(now))
                for r in pending
            ]
            try:
                store.transact(ops)
            except (ConditionFailed, TransactionConflict):
                # Someone else claimed or moved some rows: keep only the untouched ones.
                before = len(pending)
                pending = [r for r in pending if _unchanged(store, r)]
                report.contended += before - len(pending)
                if attempt:
                    time_module.sleep(0.005 * attempt)
                continue
            stamp = to_rfc3339(now)
            return [
                replace(r, status="sending", claimed_at=stamp, version=r.version + 1)
                for r in pending
            ]
        return []

    # ---- send -----------------------------------------------------------------------------

    def _deliver(self, here: _Practice, row: DueReminder, now: datetime) -> _Unit:
        """Sends the row's messages; returns what must be recorded (not yet written)."""
        store = here.store
        skip_all = self._appointment_problem(store, row, now)
        outcomes: list[Outcome] = []
        for patient_id in row.patient_ids:
            if skip_all:
                outcomes.append(Outcome(patient_id, "skipped", skip_all))
            else:
                outcomes.append(self._send_one(here, row, patient_id, now))
        return self._unit(here, row, outcomes, now)

    def _appointment_problem(self, store: PracticeStore, row: DueReminder, now: datetime) -> str:
        if row.kind == "waitlist_offer":
            return "too_late" if row.start <= now else ""
        appointment = AppointmentRepository(store, self.rt.cipher).get(row.appointment_id)
        if appointment is None:
            return "no_appointment"
        if appointment.status is AppointmentStatus.CANCELLED:
            return "cancelled"
        if appointment.status is not AppointmentStatus.BOOKED:
            return "not_booked"
        if appointment.start != row.start:
            return "rescheduled"
        if row.kind == "reminder" and appointment.start <= now:
            return "too_late"
        return ""

    def _send_one(
        self, here: _Practice, row: DueReminder, patient_id: str, now: datetime
    ) -> Outcome:
        store = here.store
        if store.get(f"REMINDER_LOG#{row.appointment_id}", f"{row.occurrence}#{patient_id}"):
            return Outcome(patient_id, "skipped", "duplicate")
        patient = PatientRepository(store, self.rt.cipher).get(patient_id)
        if patient is None:
            return Outcome(patient_id, "skipped", "no_patient")
        communication = patient.communication
        if getattr(communication, f"{row.channel}_opted_out_at") is not None:
            return Outcome(patient_id, "skipped", "opted_out")
        if not communication.allows(row.channel):
            return Outcome(patient_id, "skipped", "channel_off")
        address = patient.email if row.channel == "email" else patient.phone
        if not address:
            return Outcome(patient_id, "skipped", "no_address")
        template = self._template(here, row, patient)
        if template is None:
            return Outcome(patient_id, "skipped", "no_template")
        if row.channel == "sms":
            try:
                enforce(
                    store,
                    self.rt.clock,
                    "reminder-sms",
                    patient_id,
                    SMS_PER_PATIENT_PER_DAY,
                    86_400,
                )
            except RateLimited:
                return Outcome(patient_id, "skipped", "quota")
        extra: list[Operation] = []
        values = self._values(here, row, patient, template, extra)
        subject = render(template.subject or "", values)
        text = render(template.body, values)
        try:
            if row.channel == "email":
                # Every reminder email can be stopped in one click from the mail client
                # (RFC 8058), whether or not its template shows the link.
                unsubscribe = self._opt_out_link(here, patient.id, row.channel, extra)
                provider_id = self.rt.notifier.send_email(
                    address, subject, text, guard=here.guard, unsubscribe_url=unsubscribe
                )
            else:
                provider_id = self.rt.notifier.send_sms(address, text, guard=here.guard)
        except AgreementRequired:
            # No business associate agreement in effect with the provider: nothing was
            # sent, and retrying cannot help until the register changes.
            return Outcome(patient_id, "failed", "no_agreement")
        except DependencyUnavailable:
            return Outcome(patient_id, None, "provider_unavailable")
        except DeliveryRejected:
            return Outcome(patient_id, "failed", "rejected")
        message = {
            "channel": row.channel,
            "to": address,
            "subject": subject if row.channel == "email" else None,
            "text": text,
            "provider_id": provider_id,
        }
        return Outcome(patient_id, "sent", "sent", message, extra)

    def _template(
        self, here: _Practice, row: DueReminder, patient: Patient
    ) -> MessageTemplate | None:
        key = template_key(row.kind, row.channel)
        if row.kind != "waitlist_offer":
            rule = next((r for r in here.settings.rules if r.id == row.rule_id), None)
            if rule is None or not rule.active:
                return None
        # A per-patient override applies only while that patient's authorization stands.
        if patient.communication.reminder_may_name_service:
            override = ReminderSettingsRepository(here.store, self.rt.cipher).override(patient.id)
            if override is not None and key in override[0]:
                return override[0][key]
        return here.settings.templates.get(key)

    def _values(
        self,
        here: _Practice,
        row: DueReminder,
        patient: Patient,
        template: MessageTemplate,
        extra: list[Operation],
    ) -> dict[str, str]:
        text = (template.subject or "") + template.body
        values = {
            "first_name": patient.preferred_name or patient.legal_first_name,
            "appointment_time": format_local_time(row.start, patient.timezone),
            "practice_name": here.practice.name,
            "portal_link": here.portal_url,
        }
        if "{opt_out_link}" in text:
            values["opt_out_link"] = self._opt_out_link(here, patient.id, row.channel, extra)
        if here.settings.allow_clinician_name and "{clinician_name}" in text:
            values["clinician_name"] = self._clinician(here, row.clinician_id)
        if "{service_name}" in text and patient.communication.reminder_may_name_service:
            values["service_name"] = self._service_name(here.store, row.appointment_id)
        return values

    def _opt_out_link(
        self, here: _Practice, patient_id: str, channel: Channel, extra: list[Operation]
    ) -> str:
        """The same link in every message to this patient on this channel (a keyed HMAC:
        unguessable, no PHI); its lookup row is written with the first message of a run."""
        key = f"{patient_id}|{channel}"
        token = here.opt_out_tokens.get(key)
        if token is None:
            token = opt_out_token(self.rt.cipher, here.practice.id, patient_id, channel)
            extra.append(OptOutTokens.register_op(token, patient_id, channel))
            here.opt_out_tokens[key] = token
        return f"{here.portal_url.rstrip('/')}/v1/reminders/opt-out/{token}"

    def _clinician(self, here: _Practice, clinician_id: str) -> str:
        if clinician_id not in here.clinicians:
            user = UserRepository(here.store, self.rt.cipher).get(clinician_id)
            here.clinicians[clinician_id] = user.display_name if user else ""
        return here.clinicians[clinician_id]

    def _service_name(self, store: PracticeStore, appointment_id: str) -> str:
        appointment = AppointmentRepository(store, self.rt.cipher).get(appointment_id)
        service = appointment and CatalogueRepository(store).service(appointment.service_id)
        return service.name if service else ""

    # ---- finish ---------------------------------------------------------------------------

    def _unit(
        self, here: _Practice, row: DueReminder, outcomes: list[Outcome], now: datetime
    ) -> _Unit:
        """The writes that finish one due row: per patient its delivery-log row (Absent:
        the idempotency key), the sealed outbox copy and the audit event for a send; then
        the row's removal, and its re-queue for patients whose send failed transiently."""
        unit = _Unit(row)
        retry = [o.patient_id for o in outcomes if o.status is None]
        final = [o for o in outcomes if o.status is not None]
        if retry and row.attempts + 1 >= MAX_ATTEMPTS:
            final += [Outcome(pid, "failed", "provider_unavailable") for pid in retry]
            retry = []
        for outcome in final:
            unit.entries.append(
                (self._outcome_ops(here, row, outcome, now), self._event(here, row, outcome))
            )
            unit.counts[outcome.status or "failed"] += 1
        unit.closing.append(DueRepository.delete_op(row))
        if retry:
            again = replace(
                row,
                due=now + retry_delay(row.attempts + 1),
                patient_ids=tuple(retry),
                attempts=row.attempts + 1,
                status="due",
                claimed_at=None,
                version=1,
            )
            unit.closing.append(DueRepository.create_op(again))
            unit.counts["retried"] += len(retry)
        return unit

    def _event(self, here: _Practice, row: DueReminder, outcome: Outcome) -> AuditEvent | None:
        if outcome.status == "skipped":
            return None  # nothing was disclosed: a status, not an access
        return AuditEvent.for_system(
            SystemActor(ACTOR, here.store.practice_id, request_id=self.run_id),
            action="reminder.send",
            resource_kind="appointment",
            resource_id=row.appointment_id,
            patient_id=outcome.patient_id,
            reason_code=outcome.reason,
        )

    def _outcome_ops(
        self, here: _Practice, row: DueReminder, outcome: Outcome, now: datetime
    ) -> list[Operation]:
        if outcome.reason == "duplicate":
            return []  # already logged under the same idempotency key
        message = outcome.message or {}
        ops: list[Operation] = [
            log_op(
                row,
                outcome.patient_id,
                outcome.status or "failed",
                outcome.reason,
                now,
                message.get("provider_id"),
            )
        ]
        if outcome.message is not None:
            ops.append(
                OutboxRepository(here.store, self.rt.cipher).record_op(
                    at=now,
                    appointment_id=row.appointment_id,
                    patient_id=outcome.patient_id,
                    **outcome.message,
                )
            )
        ops += outcome.extra_ops
        return ops

    def _commit_units(self, here: _Practice, units: list[_Unit], report: SweepReport) -> None:
        """Packs finished rows into as few transactions as the 100-item limit allows (one
        durable commit for many messages); a pack that hits an existing idempotency key
        falls back to row-by-row."""
        pack: list[_Unit] = []
        size = events = 0
        for unit in units:
            if (
                pack
                and size
                + unit.size
                + audit_ops_needed(events + unit.events, self.rt.audit.checkpoint_every)
                > MAX_TRANSACTION_ITEMS
            ):
                self._commit_pack(here, pack, report)
                pack, size, events = [], 0, 0
            pack.append(unit)
            size += unit.size
            events += unit.events
        if pack:
            self._commit_pack(here, pack, report)

    def _commit_pack(self, here: _Practice, pack: list[_Unit], report: SweepReport) -> None:
        business = [op for unit in pack for op in unit.operations]
        audit = [e for unit in pack for e in unit.audit_events]
        try:
            self._commit(here, business, audit)
        except ConditionFailed:
            if len(pack) > 1:
                for unit in pack:
                    self._commit_pack(here, [unit], report)
                return
            self._commit_entries(here, pack[0])
        for unit in pack:
            unit.report(report)

    def _commit(self, here: _Practice, business: list[Operation], events: list[AuditEvent]) -> None:
        """The changes and their audit events in one transaction, or neither."""
        if not events:
            here.store.transact(business)
            return
        self.rt.audit.write_many_with_audit(here.store, lambda: list(business), events)

    def _commit_entries(self, here: _Practice, unit: _Unit) -> None:
        """One row, patient by patient: an entry whose key is already logged (a duplicated
        due row finished first) is dropped; the row is removed regardless."""
        for ops, event in unit.entries:
            if not ops:
                continue
            try:
                self._commit(here, ops, [event] if event is not None else [])
            except ConditionFailed:
                continue
        here.store.transact(unit.closing)

    def _interrupted(self, here: _Practice, row: DueReminder, report: SweepReport) -> None:
        """A claim whose sweep died: log it failed (maybe sent, so never re-sent)."""
        try:
            here.store.transact([DueRepository.delete_op(row, claimed_version=row.version)])
        except (ConditionFailed, TransactionConflict):
            return  # another sweep handled it
        now = self.rt.clock.now()
        for patient_id in row.patient_ids:
            try:
                here.store.transact([log_op(row, patient_id, "failed", "interrupted", now)])
            except ConditionFailed:
                continue
        report.interrupted += 1


def _unchanged(store: PracticeStore, row: DueReminder) -> bool:
    item = store.get(DUE_PK, row.sk)
    return item is not None and item.get("status") == "due" and int(item["version"]) == row.version


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))

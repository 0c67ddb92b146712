"""The reminder sweep over 10,000 due reminders on the local SQLite store (outbox notifier).

Measured: one `ReminderSweep.sweep_practice` run that claims, checks (appointment still
booked, patient still accepts email, not yet logged), renders, "sends" and finishes every
reminder — one audited transaction per message, plus the batched claims.
Baseline, in the same run and on the same kind of file: 10,000 plain single-item
`put`s, i.e. the least any per-message durable write could cost.
Target: the whole sweep in at most 10 s (issue 5); the ratio to the baseline says how
many raw writes' worth of work one reminder costs.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from benchmarks.common import Figure, Options, Outcome, Stats
from tpm.adapters.store.base import MAX_TRANSACTION_ITEMS, Operation, Put
from tpm.adapters.store.sqlite import SqliteStore
from tpm.clock import FixedClock
from tpm.domain.patients import Communication, Patient
from tpm.domain.scheduling import Appointment
from tpm.ids import new_id
from tpm.local.bootstrap import local_settings
from tpm.repositories.appointments import AppointmentRepository
from tpm.repositories.patients import PatientRepository
from tpm.repositories.reminders import DueReminder, DueRepository
from tpm.runtime import Runtime, build_runtime
from tpm.services.practices import create_practice
from tpm.services.reminder_sweep import ReminderSweep

NAME = "reminder_sweep"
REMINDERS, QUICK_REMINDERS = 10_000, 1_000
PATIENTS = 500
TARGET_SECONDS = 10.0
NOW = datetime(2026, 3, 3, 16, 0, tzinfo=UTC)  # 10:00 in Chicago: outside quiet hours


def _batched(store_write: list[Operation], runtime: Runtime, practice_id: str) -> None:
    store = runtime.store.practice(practice_id)
    for start in range(0, len(store_write), MAX_TRANSACTION_ITEMS):
        store.transact(store_write[start : start + MAX_TRANSACTION_ITEMS])


def seed(runtime: Runtime, clock: FixedClock, count: int) -> str:
    """A practice with PATIENTS patients (email reminders on) and `count` appointments,
    each with its 72-hour email reminder due now."""
    practice = create_practice(
        runtime.store, clock, name="Bench Practice", slug="bench", timezone="America/Chicago"
    )
    store = runtime.store.practice(practice.id)
    patients = PatientRepository(store, runtime.cipher)
    appointments = AppointmentRepository(store, runtime.cipher)
    ops: list[Operation] = []
    pids = []
    for i in range(min(PATIENTS, count)):
        patient = Patient(
            id=new_id("pat"),
            legal_first_name=f"Bench{i}",
            legal_last_name="Synthetic",
            date_of_birth=date(1990, 1, 1),
            email=f"bench{i}@example.test",
            communication=Communication(email_reminders=True),
            created_at=clock.now(),
            created_by="benchmark",
        )
        pids.append(patient.id)
        ops += patients.create_ops(patient)
    clinician = new_id("usr")
    for i in range(count):
        start = NOW + timedelta(hours=72, minutes=15 * (i % 8))
        appt = Appointment(
            id=new_id("apt"),
            patient_ids=(pids[i % len(pids)],),
            clinician_id=clinician,
            location_id=new_id("loc"),
            service_id=new_id("svc"),
            start=start,
            end=start + timedelta(minutes=50),
            created_by="benchmark",
            created_at=clock.now(),
        )
        ops.append(Put(appointments.to_item(appt)))
        row = DueReminder(
            due=NOW - timedelta(minutes=1),
            appointment_id=appt.id,
            rule_id="email-72h",
            kind="reminder",
            channel="email",
            patient_ids=appt.patient_ids,
            start=appt.start,
            appointment_version=1,
            clinician_id=clinician,
        )
        ops.append(DueRepository.create_op(row))
    _batched(ops, runtime, practice.id)
    return practice.id


def raw_puts(path: Path, count: int) -> float:
    store = SqliteStore(path)
    try:
        practice = store.practice("prx_baseline")
        started = time.perf_counter()
        for i in range(count):
            practice.put({"pk": "BASELINE", "sk": f"{i:08d}", "text": "x" * 200})
        return time.perf_counter() - started
    finally:
        store.close()


def measure(count: int) -> Outcome:
    outcome = Outcome(NAME)
    with tempfile.TemporaryDirectory(prefix="tpm-bench-reminders-") as tmp:
        clock = FixedClock(NOW)
        runtime = build_runtime(local_settings(Path(tmp) / "data", environment="test"), clock=clock)
        try:
            practice_id = seed(runtime, clock, count)
            runtime.store.calls.reset()
            started = time.perf_counter()
            report = ReminderSweep(runtime).sweep_practice(practice_id)
            seconds = time.perf_counter() - started
            calls = runtime.store.calls.reset()
        finally:
            runtime.store.close()
        baseline = raw_puts(Path(tmp) / "baseline.db", count)
    if report.sent != count:
        outcome.failures.append(f"sent {report.sent} of {count} reminders ({report.__dict__})")
    outcome.figures.append(
        Figure(
            subject=f"sweep of {count:,} due reminders (total)",
            unit="ms",
            measured=Stats.of([seconds * 1000]),
            baseline=Stats.of([baseline * 1000]),
            baseline_name=f"{count:,} raw SqliteStore puts",
        )
    )
    verdict = "PASS" if seconds <= TARGET_SECONDS * count / REMINDERS else "OVER"
    outcome.notes += [
        f"  rate: {count / seconds:,.0f} reminders/s; baseline {count / baseline:,.0f} puts/s",
        f"  target: {REMINDERS:,} in <= {TARGET_SECONDS:.0f} s (scaled to {count:,}): {verdict}",
        f"  store calls per reminder: {sum(calls.values()) / count:.2f} ({calls})",
    ]
    outcome.details |= {
        "reminders": count,
        "seconds": round(seconds, 3),
        "rate_per_s": round(count / seconds, 1),
        "baseline_seconds": round(baseline, 3),
        "sent": report.sent,
        "store_calls": calls,
        "target_seconds": TARGET_SECONDS,
        "verdict": verdict,
    }
    return outcome


def benchmark(options: Options) -> Outcome:
    return measure(QUICK_REMINDERS if options.quick else REMINDERS)

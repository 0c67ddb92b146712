"""`tpm reminders sweep` against a real local data directory (the demo practice, SQLite,
local keys, the real clock): sends what is due once, prints counts and no PHI, honours
quiet hours, and one practice's broken data neither stops the others nor hides."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from support.operator_cli import OperatorCli, operator_cli

from tpm.adapters.store.base import Operation
from tpm.cli import main
from tpm.clock import SystemClock
from tpm.domain.patients import Communication, Patient
from tpm.domain.reminders import QuietHours, ReminderSettings
from tpm.domain.scheduling import Appointment
from tpm.ids import new_id
from tpm.repositories.appointments import AppointmentRepository
from tpm.repositories.patients import PatientRepository
from tpm.repositories.reminders import DUE_PK, DueRepository, ReminderSettingsRepository
from tpm.runtime import Runtime
from tpm.security.audit_chain import AuditEvent
from tpm.security.principal import SystemActor
from tpm.services.practices import create_practice, get_practice
from tpm.services.reminder_hooks import forget_settings, on_booked

FIRST, LAST, EMAIL = "Ximena", "Quillfeather", "ximena.q@example.test"


@pytest.fixture
def cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[OperatorCli]:
    with operator_cli(tmp_path, monkeypatch, capsys) as cli:
        yield cli


def seed(runtime: Runtime, practice_id: str, ops: list[Operation]) -> None:
    runtime.audit.write_with_audit(
        runtime.store.practice(practice_id),
        lambda: list(ops),
        AuditEvent.for_system(
            SystemActor("test-harness", practice_id),
            action="practice.seed",
            resource_kind="practice",
        ),
    )


def save_quiet_hours(runtime: Runtime, practice_id: str, quiet: QuietHours) -> None:
    repo = ReminderSettingsRepository(runtime.store.practice(practice_id), runtime.cipher)
    current = repo.get()
    changed = current.model_copy(update={"quiet_hours": quiet, "version": current.version + 1})
    seed(runtime, practice_id, [repo.save_op(ReminderSettings.model_validate(changed))])
    forget_settings(practice_id)


def book_for_new_patient(runtime: Runtime, practice_id: str, *, email_on: bool) -> str:
    """A patient (email reminders on or off) with a visit in a week, booked through the
    real reminder hook: its confirmation is due at once. Returns the patient id."""
    store = runtime.store.practice(practice_id)
    now = SystemClock().now()
    patient = Patient(
        id=new_id("pat"),
        legal_first_name=FIRST,
        legal_last_name=LAST,
        date_of_birth=date(1981, 3, 9),
        email=EMAIL,
        timezone="America/Chicago",
        communication=Communication(email_reminders=email_on),
        created_at=now,
        created_by="test-harness",
    )
    start = (now + timedelta(days=7)).replace(minute=0, second=0, microsecond=0)
    appointment = Appointment(
        id=new_id("apt"),
        patient_ids=(patient.id,),
        clinician_id=new_id("usr"),
        location_id=new_id("loc"),
        service_id=new_id("svc"),
        start=start,
        end=start + timedelta(minutes=50),
        created_by="test-harness",
        created_at=now,
    )
    practice = get_practice(runtime.store, practice_id)
    ops = [
        *PatientRepository(store, runtime.cipher).create_ops(patient),
        *AppointmentRepository(store, runtime.cipher).create_ops(appointment),
        *on_booked(store, runtime.cipher, practice, appointment, now=now),
    ]
    seed(runtime, practice_id, ops)
    return patient.id


def due_rows(runtime: Runtime, practice_id: str) -> int:
    store = runtime.store.practice(practice_id)
    items, _ = DueRepository(store).due_before(datetime.now(UTC) + timedelta(days=30), 100, None)
    return len(items)


def test_sweep_sends_what_is_due_once_and_prints_only_counts(cli: OperatorCli) -> None:
    # GIVEN two confirmations due in the demo practice: one patient takes email
    # reminders, the other has them off (and no quiet hours, whatever the time of day)
    with cli.runtime() as runtime:
        save_quiet_hours(runtime, cli.practice_id, QuietHours(enabled=False))
        wanted = book_for_new_patient(runtime, cli.practice_id, email_on=True)
        book_for_new_patient(runtime, cli.practice_id, email_on=False)

    # WHEN the operator runs the sweep
    first = cli("reminders", "sweep")

    # THEN one message is sent, one skipped, and the output says so in counts
    assert first.code == 0, first.err
    assert "demo: sent 1, skipped 1, failed 0, retried 0" in first.out
    assert "1 practice(s): sent 1, skipped 1, failed 0, retried 0" in first.out
    for phi in (FIRST, LAST, EMAIL, wanted):
        assert phi not in first.out + first.err
    # AND the send is in the trail, by the sweep, naming the patient
    sends = [e for e in cli.events() if e.action == "reminder.send"]
    assert [(e.actor_id, e.patient_id, e.reason_code) for e in sends] == [
        ("reminder-sweep", wanted, "sent")
    ]

    # WHEN it runs again THEN nothing is sent twice
    again = cli("reminders", "sweep")
    assert again.code == 0, again.err
    assert "demo: sent 0, skipped 0, failed 0, retried 0" in again.out
    assert len([e for e in cli.events() if e.action == "reminder.send"]) == 1


def test_sweep_waits_during_quiet_hours(cli: OperatorCli) -> None:
    # GIVEN the practice's quiet hours cover the present moment
    with cli.runtime() as runtime:
        zone = ZoneInfo(get_practice(runtime.store, cli.practice_id).timezone)
        here = datetime.now(zone)
        around = QuietHours(
            enabled=True,
            start=time((here - timedelta(hours=1)).hour),
            end=time((here + timedelta(hours=2)).hour),
        )
        save_quiet_hours(runtime, cli.practice_id, around)
        book_for_new_patient(runtime, cli.practice_id, email_on=True)
        waiting = due_rows(runtime, cli.practice_id)
    assert waiting > 0

    result = cli("reminders", "sweep")

    # THEN nothing is sent and the due reminders are still there for later
    assert result.code == 0, result.err
    assert "demo: quiet hours, nothing sent" in result.out
    assert "sent 0" in result.out
    assert not [e for e in cli.events() if e.action == "reminder.send"]
    with cli.runtime() as runtime:
        assert due_rows(runtime, cli.practice_id) == waiting


def test_a_practice_with_damaged_data_fails_loudly_without_stopping_the_others(
    cli: OperatorCli,
) -> None:
    # GIVEN a second practice whose due-reminder row is damaged, and the demo practice
    # with a confirmation due
    with cli.runtime() as runtime:
        other = create_practice(
            runtime.store, SystemClock(), name="Other", slug="other", timezone="UTC"
        )
        save_quiet_hours(runtime, other.id, QuietHours(enabled=False))
        runtime.store.practice(other.id).put(
            {"pk": DUE_PK, "sk": "2020-01-01T00:00:00Z#apt_x#confirm-email#v1"}
        )
        save_quiet_hours(runtime, cli.practice_id, QuietHours(enabled=False))
        book_for_new_patient(runtime, cli.practice_id, email_on=True)

    result = cli("reminders", "sweep")

    # THEN the demo practice is swept, the damaged one is named (its error type only),
    # and the exit status says something failed
    assert result.code == 1
    assert "demo: sent 1, skipped 0, failed 0, retried 0" in result.out
    assert "other: FAILED (KeyError)" in result.err
    assert "1 practice(s) failed" in result.err
    assert [e.action for e in cli.events() if e.action == "reminder.send"] == ["reminder.send"]


def test_sweep_refuses_a_data_dir_without_tpm_data(cli: OperatorCli, tmp_path: Path) -> None:
    empty = tmp_path / "nothing-here"
    empty.mkdir()
    cli.capsys.readouterr()
    code = main(["reminders", "sweep", "--data-dir", str(empty)])
    _, err = cli.capsys.readouterr()
    assert code == 1
    assert "no tpm data" in err
    assert not (empty / "tpm.db").exists()

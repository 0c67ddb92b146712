"""The reminder sweep against the local store: exactly once (run twice, run concurrently),
cancelled and rescheduled appointments, opt-outs honoured at once, quiet hours, retries
with a recorded status, the allowed content only, and an audit event per send."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from reminder_world import ReminderWorld, build_reminder_world

from tpm.domain.scheduling import AppointmentStatus
from tpm.errors import DependencyUnavailable
from tpm.repositories.appointments import AppointmentRepository
from tpm.repositories.patients import PatientRepository
from tpm.repositories.reminders import DueRepository, OutboxRepository, delivery_log
from tpm.security.audit import read_events, read_head
from tpm.security.audit_verify import verify
from tpm.services.authentication import RequestMeta
from tpm.services.practices import get_practice
from tpm.services.reminder_hooks import on_booked, on_cancelled
from tpm.services.reminder_opt_out import InboundSms, opt_out_by_link, sms_inbound
from tpm.services.reminder_sweep import ReminderSweep

META = RequestMeta(source_ip="127.0.0.1", user_agent="pytest", request_id="req-1")


@pytest.fixture
def world(tmp_path: Path) -> ReminderWorld:
    return build_reminder_world(tmp_path)


def sweep(world: ReminderWorld) -> dict[str, int]:
    return dict(ReminderSweep(world.runtime).sweep_practice(world.practice.id).__dict__)


def pending(world: ReminderWorld) -> int:
    items, _ = DueRepository(world.store).due_before(
        world.clock.now() + timedelta(days=400), 1000, None
    )
    return len(items)


def test_confirmation_is_sent_once_even_when_the_sweep_runs_twice(world: ReminderWorld) -> None:
    pid = world.new_patient()
    appointment = world.book([pid], world.clock.now() + timedelta(days=7))
    first = sweep(world)
    second = sweep(world)
    assert (first["sent"], second["sent"]) == (1, 0)
    assert [m.channel for m in world.outbox.sent] == ["email"]
    log = delivery_log(world.store, appointment.id)
    assert [(i["rule_id"], i["status"]) for i in log] == [("confirm-email", "sent")]


def test_concurrent_sweeps_send_each_reminder_once(world: ReminderWorld) -> None:
    # GIVEN 20 appointments (an hour apart) whose 72 h email and 24 h SMS are both due
    pids = [
        world.new_patient(email=f"p{i}@example.test", phone=f"+155555501{i:02d}") for i in range(20)
    ]
    first = world.clock.now() + timedelta(days=5)
    for i, pid in enumerate(pids):
        world.book([pid], first + timedelta(hours=i))
    sweep(world)  # the confirmations
    world.outbox._sent.clear()
    world.clock.advance(days=4, hours=23)
    # WHEN four sweeps run at the same time
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            ReminderSweep(world.runtime).sweep_practice(world.practice.id)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # THEN every reminder went out exactly once
    assert errors == []
    sent = [(m.channel, m.to) for m in world.outbox.sent]
    assert len(sent) == 40 == len(set(sent))
    assert pending(world) == 0


def test_cancelled_appointment_gets_no_reminder(world: ReminderWorld) -> None:
    pid = world.new_patient()
    appointment = world.book([pid], world.clock.now() + timedelta(days=5))
    world.cancel(appointment)
    world.clock.advance(days=5)
    assert sweep(world)["sent"] == 0
    assert world.outbox.sent == []
    assert pending(world) == 0


def test_a_row_left_by_a_cancel_race_is_skipped_with_a_reason(world: ReminderWorld) -> None:
    pid = world.new_patient()
    appointment = world.book([pid], world.clock.now() + timedelta(days=5))
    # The appointment is cancelled WITHOUT the hook (as if a moved row escaped it).
    repo = AppointmentRepository(world.store, world.runtime.cipher)
    world.write(repo.update_ops(appointment, appointment.bump(status=AppointmentStatus.CANCELLED)))
    report = sweep(world)
    assert report["sent"] == 0
    assert report["skipped"] == 1
    assert [i["reason"] for i in delivery_log(world.store, appointment.id)] == ["cancelled"]


def test_reschedule_replaces_the_reminders(world: ReminderWorld) -> None:
    pid = world.new_patient()
    before = world.book([pid], world.clock.now() + timedelta(days=5))
    sweep(world)
    after = before.bump(start=before.start + timedelta(days=2), end=before.end + timedelta(days=2))
    practice = get_practice(world.runtime.store, world.practice.id)
    repo = AppointmentRepository(world.store, world.runtime.cipher)
    world.write(
        [
            *repo.update_ops(before, after),
            *on_cancelled(world.store, before),
            *on_booked(world.store, world.runtime.cipher, practice, after, now=world.clock.now()),
        ]
    )
    world.outbox._sent.clear()
    sweep(world)  # the new booking's confirmation
    assert len(world.outbox.sent) == 1
    # Booked for Sunday 11:00 CDT, moved two days: the confirmation names the new time.
    assert "Tuesday, March 10, 2026 at 11:00 AM CDT" in world.outbox.sent[0].text


def test_email_opt_out_link_is_honoured_at_once(world: ReminderWorld) -> None:
    pid = world.new_patient()
    world.book([pid], world.clock.now() + timedelta(days=5))
    sweep(world)
    text = world.outbox.sent[0].text
    token = text.split("/v1/reminders/opt-out/")[1].split()[0]
    assert pid not in token
    assert "Ximena" not in token
    # WHEN the patient follows the link THEN the next due email is not sent
    opt_out_by_link(world.runtime, token, META)
    patient = PatientRepository(world.store, world.runtime.cipher).get(pid)
    assert patient is not None
    assert patient.communication.email_opted_out_at is not None
    world.outbox._sent.clear()
    world.clock.advance(days=4, hours=1)
    report = sweep(world)
    assert [m.channel for m in world.outbox.sent] == ["sms"]  # SMS still on
    assert report["skipped"] == 1


def test_sms_stop_is_honoured_at_once(world: ReminderWorld) -> None:
    from tpm.repositories.public_tokens import SmsNumbers

    pid = world.new_patient(phone="+15555550177")
    world.book([pid], world.clock.now() + timedelta(days=5))
    SmsNumbers(world.runtime.store).claim("+15555550100", world.practice.id)
    # Not addressed to the practice's number: ignored
    wrong = InboundSms("+15555550177", "+15555550999", "STOP")
    assert sms_inbound(world.runtime, wrong, META) == 0
    assert sms_inbound(world.runtime, InboundSms("+15555550177", "+15555550100", "hi"), META) == 0
    changed = sms_inbound(
        world.runtime, InboundSms("+1 555 555 0177", "+15555550100", "Stop"), META
    )
    assert changed == 1
    world.clock.advance(days=4, hours=1)
    sweep(world)
    assert "sms" not in [m.channel for m in world.outbox.sent]


def test_quiet_hours_defer_until_they_end(world: ReminderWorld) -> None:
    pid = world.new_patient()
    world.clock.advance(hours=12)  # 10:00 CST -> 22:00 CST: quiet
    world.book([pid], world.clock.now() + timedelta(days=5))
    report = sweep(world)
    assert report["quiet"] == 1
    assert world.outbox.sent == []
    world.clock.advance(hours=9)  # 07:00 CST: still quiet
    assert sweep(world)["quiet"] == 1
    world.clock.advance(hours=1)  # 08:00 CST: quiet hours are over
    assert sweep(world)["sent"] == 1


class FlakyNotifier:
    """A provider that is down for the first `failures` calls."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.delivered: list[str] = []

    vendor = None

    def send_email(self, to: str, subject: str, text: str, **_: object) -> str:
        return self._send(to)

    def send_sms(self, to: str, text: str, **_: object) -> str:
        return self._send(to)

    def _send(self, to: str) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise DependencyUnavailable()
        self.delivered.append(to)
        return f"flaky-{self.calls}"


def test_failed_send_is_retried_with_backoff_then_recorded(world: ReminderWorld) -> None:
    notifier = FlakyNotifier(failures=2)
    world.runtime.notifier = notifier
    pid = world.new_patient()
    appointment = world.book([pid], world.clock.now() + timedelta(days=7))
    assert sweep(world)["retried"] == 1
    assert sweep(world)["sent"] == 0  # the retry is not due yet (1 minute backoff)
    world.clock.advance(minutes=1)
    assert sweep(world)["retried"] == 1
    world.clock.advance(minutes=4)
    assert sweep(world)["sent"] == 1
    assert notifier.delivered == ["ximena@example.test"]
    [entry] = delivery_log(world.store, appointment.id)
    assert (entry["status"], entry["attempts"]) == ("sent", 3)


def test_a_send_that_keeps_failing_ends_failed(world: ReminderWorld) -> None:
    world.runtime.notifier = FlakyNotifier(failures=100)
    pid = world.new_patient()
    appointment = world.book([pid], world.clock.now() + timedelta(days=7))
    for _ in range(6):
        sweep(world)
        world.clock.advance(hours=2)
    [entry] = delivery_log(world.store, appointment.id)
    assert (entry["status"], entry["reason"], entry["attempts"]) == (
        "failed",
        "provider_unavailable",
        5,
    )
    assert pending(world) == 2  # only the 72 h / 24 h reminders remain


def test_message_holds_only_allowed_content_in_the_patients_zone(world: ReminderWorld) -> None:
    pid = world.new_patient(zone="America/Los_Angeles")
    world.book([pid], world.clock.now() + timedelta(days=7))
    sweep(world)
    [message] = world.outbox.sent
    assert "Ximena" in message.text
    assert "Tuesday, March 10, 2026 at 9:00 AM PDT" in message.text  # after the DST change
    for secret in ("Quillfeather", "Couples", "Intake", "Quill", "Suite 200", pid):
        assert secret not in message.text
        assert secret not in (message.subject or "")


def test_group_appointment_sends_each_patient_once(world: ReminderWorld) -> None:
    a = world.new_patient(email="a@example.test")
    b = world.new_patient(email="b@example.test", email_on=False)
    appointment = world.book([a, b], world.clock.now() + timedelta(days=7))
    sweep(world)
    assert [m.to for m in world.outbox.sent] == ["a@example.test"]
    statuses = {i["patient_id"]: i["status"] for i in delivery_log(world.store, appointment.id)}
    assert statuses == {a: "sent", b: "skipped"}


def test_every_send_is_audited_and_stored_sealed(world: ReminderWorld) -> None:
    pid = world.new_patient()
    appointment = world.book([pid], world.clock.now() + timedelta(days=7))
    head = read_head(world.store)
    assert head is not None
    sweep(world)
    new = list(read_events(world.store, head.seq + 1, read_head(world.store).seq))  # type: ignore[union-attr]
    sends = [e for e in new if e.action == "reminder.send"]
    assert [(e.actor_kind, e.actor_id, e.patient_id, e.resource_id) for e in sends] == [
        ("system", "reminder-sweep", pid, appointment.id)
    ]
    raw = world.store.query("OUTBOX", limit=10).items[0]
    assert "Ximena" not in str(raw)
    assert "ximena@" not in str(raw)
    [stored] = OutboxRepository(world.store, world.runtime.cipher).page(10, None)[0]
    assert stored.text == world.outbox.sent[0].text


def test_local_outbox_page_shows_the_exact_text_with_a_masked_recipient(
    world: ReminderWorld, project_root: Path
) -> None:
    import asyncio

    import httpx

    from tpm.local.gateway import LocalGateway
    from tpm.local.server import create_asgi_app
    from tpm.runtime import set_runtime

    pid = world.new_patient()
    world.book([pid], world.clock.now() + timedelta(days=7))
    sweep(world)
    set_runtime(world.runtime)
    try:
        app = create_asgi_app(LocalGateway(project_root), project_root / "portal")

        async def fetch() -> httpx.Response:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://dev") as client:
                return await client.get("/dev/outbox")

        # A thread of its own: another test's event loop may be running in this one.
        box: list[httpx.Response] = []
        runner = threading.Thread(target=lambda: box.append(asyncio.run(fetch())))
        runner.start()
        runner.join()
        [response] = box
    finally:
        set_runtime(None)
    assert response.status_code == 200
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    page = response.text
    assert "x***@example.test" in page
    assert "ximena@example.test" not in page
    assert "Hello Ximena," in page
    assert "Your appointment on Tuesday, March 10, 2026 at 11:00 AM CDT is booked." in page


def test_batched_sends_keep_the_audit_chain_valid(world: ReminderWorld) -> None:
    # GIVEN enough messages to fill several packed transactions and cross checkpoints
    world.runtime.audit.checkpoint_every = 7
    pids = [world.new_patient(email=f"c{i}@example.test") for i in range(45)]
    first = world.clock.now() + timedelta(days=6)
    for i, pid in enumerate(pids):
        world.book([pid], first + timedelta(hours=i))
    world.runtime.store.calls.reset()
    report = sweep(world)
    assert report["sent"] == 45
    assert world.runtime.store.calls.counts["transact"] < 10  # packed, not one per message
    # THEN the chain verifies: links, head signature, stored and sealed checkpoints
    trail = world.runtime.audit
    result = verify(world.store, trail.signer.public_keys(), trail.sink)
    assert result.problems == []
    assert result.checkpoints_checked >= 6
    sends = [e for e in read_events(world.store, 1, result.last_seq) if e.action == "reminder.send"]
    assert sorted(e.patient_id or "" for e in sends) == sorted(pids)


def test_the_template_schedules_the_sweep_every_five_minutes(
    world: ReminderWorld, project_root: Path
) -> None:
    from tpm.local.gateway import LocalGateway
    from tpm.local.lambda_context import LocalLambdaContext
    from tpm.local.scheduler import scheduled_event
    from tpm.runtime import set_runtime

    gateway = LocalGateway(project_root)
    [schedule] = gateway.functions["ReminderSweepFunction"].schedules
    assert schedule.expression == "rate(5 minutes)"
    pid = world.new_patient()
    world.book([pid], world.clock.now() + timedelta(days=7))
    set_runtime(world.runtime)
    try:
        handler = gateway.handler("ReminderSweepFunction")
        context = LocalLambdaContext(function_name="ReminderSweepFunction", timeout_seconds=300)
        summary = handler(scheduled_event(schedule, world.clock.now()), context)
    finally:
        set_runtime(None)
    assert summary["sent"] == 1
    assert summary["errors"] == 0


def test_waitlist_offer_goes_out_at_once_on_the_patients_channels(world: ReminderWorld) -> None:
    from dataclasses import dataclass
    from datetime import datetime

    from tpm.services.reminder_hooks import on_waitlist_offer

    @dataclass(frozen=True)
    class Offer:
        id: str
        patient_id: str
        start: datetime
        clinician_id: str
        created_at: datetime

    pid = world.new_patient(sms_on=False)
    offer = Offer(
        "wlo_" + "0" * 26, pid, world.clock.now() + timedelta(days=2), "", world.clock.now()
    )
    practice = get_practice(world.runtime.store, world.practice.id)
    world.write(on_waitlist_offer(world.store, world.runtime.cipher, practice, offer))
    report = sweep(world)
    assert (report["sent"], report["skipped"]) == (1, 1)  # email sent; SMS is off
    [message] = world.outbox.sent
    assert message.subject == "An earlier time is available at Lakeside Wellness Group"
    assert "Thursday, March 5, 2026 at 10:00 AM CST" in message.text


def test_calendar_initials_only_when_the_practice_turns_them_on(world: ReminderWorld) -> None:
    from icalendar import Calendar

    from tpm.repositories.reminders import ReminderSettingsRepository
    from tpm.services.calendar_feed import _calendar

    pid = world.new_patient()
    world.book([pid], world.clock.now() + timedelta(days=2))
    clinician = world.clinician.id
    off = Calendar.from_ical(_calendar(world.runtime, world.store, clinician, world.clock.now()))
    assert [str(e["summary"]) for e in off.walk("VEVENT")] == ["Appointment"]
    repo = ReminderSettingsRepository(world.store, world.runtime.cipher)
    settings = repo.get().model_copy(update={"feed_patient_initials": True, "version": 1})
    world.write([repo.save_op(settings)])
    on = Calendar.from_ical(_calendar(world.runtime, world.store, clinician, world.clock.now()))
    assert [str(e["summary"]) for e in on.walk("VEVENT")] == ["Appointment X.Q."]


def test_a_claim_whose_sweep_died_is_logged_interrupted_and_never_resent(
    world: ReminderWorld,
) -> None:
    from tpm.repositories.reminders import due_from_item
    from tpm.services.reminder_sweep import LEASE

    pid = world.new_patient()
    appointment = world.book([pid], world.clock.now() + timedelta(days=7))
    # GIVEN a sweep claimed the confirmation and died before finishing it
    items, _ = DueRepository(world.store).due_before(world.clock.now(), 10, None)
    [row] = [due_from_item(i) for i in items]
    world.store.transact(
        [DueRepository.transition_op(row, status="sending", claimed_at="2026-03-03T16:00:00.000Z")]
    )
    assert sweep(world)["sent"] == 0  # still within the lease: left alone
    world.clock.advance(seconds=LEASE.total_seconds() + 1)
    report = sweep(world)
    assert report["interrupted"] == 1
    assert world.outbox.sent == []
    [entry] = delivery_log(world.store, appointment.id)
    assert (entry["status"], entry["reason"]) == ("failed", "interrupted")

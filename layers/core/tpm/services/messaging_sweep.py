"""Messaging's scheduled jobs (template.yaml: every minute, and daily; `tpm dev` runs the
same schedules; `tpm messaging sweep` runs them now).

Notices. Sending a message queues one notice per recipient (a burst of messages in a
thread coalesces into one). The sweep CLAIMS a notice by deleting it with
VersionIs(version) — of two sweeps exactly one wins — then sends "a secure message is
waiting" by email (and by SMS to a patient who accepts texts from the practice), and
records the sealed outbox copy with the audit event (system actor `messaging-sweep`,
`message.notify`). At most once, like reminders: a sweep that dies after claiming does
not send twice. A transient provider failure puts the notice back for the next run.
The text is the practice's notification wording, checked by the reminder content linter
when it was saved; it never holds message content, a subject or a clinician's name.

Escalation. A patient message no staff member has answered within the practice's
expected response time moves its thread to the practice queue (`message.escalate`), the
staff participants' inbox rows show it, and whoever works the queue (owners, supervisors)
is told one is waiting. A staff reply in the meantime removed the deadline row in its own
transaction, so nothing escalates that was answered.

Retention (daily). Threads whose last activity is older than the practice's retention and
that are not on legal hold are listed for review (`message.retention.review`). Nothing is
ever deleted by a job.

Logs carry counts and ids only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from tpm.adapters.notify import DeliveryRejected
from tpm.adapters.store.base import ConditionFailed, Operation, PracticeStore, TransactionConflict
from tpm.clock import to_rfc3339
from tpm.domain.messaging import Thread, retain_until
from tpm.domain.practice import Practice
from tpm.domain.reminders import render
from tpm.domain.users import User, UserStatus
from tpm.domain.vendors import AgreementRequired
from tpm.errors import DependencyUnavailable
from tpm.ids import new_id
from tpm.observability import get_logger
from tpm.repositories.messaging import MessagingRepository
from tpm.repositories.messaging_jobs import (
    REVIEW_PK,
    Notice,
    claim_notice_op,
    due_escalations,
    escalation_delete_op,
    notice_op,
    pending_notices,
    queue_op,
    review_op,
)
from tpm.repositories.patients import PatientRepository
from tpm.repositories.reminders import OutboxRepository
from tpm.repositories.users import UserRepository
from tpm.runtime import Runtime
from tpm.security.audit_chain import AuditEvent
from tpm.security.policy import permission_table
from tpm.security.principal import PORTAL_ROLES, SystemActor
from tpm.services.agreements import AgreementGuard
from tpm.services.message_append import fixed_ops
from tpm.services.messaging_access import KIND
from tpm.services.practices import all_practice_ids, get_practice

log = get_logger("messaging")

ACTOR = "messaging-sweep"
PAGE = 500
MAX_ATTEMPTS = 5
STAFF_SUBJECT = "A secure message is waiting at {practice_name}"
STAFF_BODY = (
    "A secure message is waiting for you at {practice_name}.\n\nSign in to read it: {portal_link}\n"
)
QUEUE_BODY = (
    "A patient's secure message at {practice_name} has waited longer than the practice's "
    "expected response time and is in the practice queue.\n\n"
    "Sign in to answer it: {portal_link}\n"
)


@dataclass
class SweepReport:
    practices: int = 0
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    retried: int = 0
    contended: int = 0
    escalated: int = 0
    listed_for_review: int = 0
    errors: int = 0

    def add(self, other: SweepReport) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(frozen=True)
class Sent:
    channel: str
    to: str
    subject: str | None
    text: str
    provider_id: str


@dataclass
class _Here:
    practice: Practice
    store: PracticeStore
    users: UserRepository
    guard: AgreementGuard  # the business associate register, asked before every send
    queue_workers: list[str] | None = None


class MessagingSweep:
    def __init__(
        self, runtime: Runtime, *, run_id: str | None = None, as_of: datetime | None = None
    ) -> None:
        self.rt = runtime
        self.run_id = run_id or new_id("run")
        # `tpm messaging sweep --as-of`: deadlines judged as at a later time (a test install
        # checking its escalation settings end to end); None = the clock.
        self.as_of = as_of

    def now(self) -> datetime:
        return self.as_of or self.rt.clock.now()

    def run(self, should_stop: Callable[[], bool] = lambda: False) -> SweepReport:
        return self._each(lambda pid: self.sweep_practice(pid, should_stop), should_stop)

    def run_retention(self, should_stop: Callable[[], bool] = lambda: False) -> SweepReport:
        return self._each(self.retention_practice, should_stop)

    def _each(
        self, job: Callable[[str], SweepReport], should_stop: Callable[[], bool]
    ) -> SweepReport:
        report = SweepReport()
        for practice_id in all_practice_ids(self.rt.store):
            if should_stop():
                break
            report.practices += 1
            try:
                report.add(job(practice_id))
            except Exception as exc:  # one practice's failure must not stop the others
                report.errors += 1
                log.error(
                    "messaging job failed for a practice",
                    extra={"practice_id": practice_id, "error_type": type(exc).__name__},
                )
        return report

    def _here(self, practice_id: str) -> _Here:
        store = self.rt.store.practice(practice_id)
        practice = get_practice(self.rt.store, practice_id)
        guard = AgreementGuard(
            self.rt, store, SystemActor(ACTOR, practice_id, request_id=self.run_id)
        )
        return _Here(practice, store, UserRepository(store, self.rt.cipher), guard)

    def _event(
        self, here: _Here, action: str, thread_id: str, patient_id: str, reason: str
    ) -> AuditEvent:
        return AuditEvent.for_system(
            SystemActor(ACTOR, here.store.practice_id, request_id=self.run_id),
            action=action,
            resource_kind=KIND,
            resource_id=thread_id,
            patient_id=patient_id,
            reason_code=reason,
        )

    # ---- one practice: escalations, then notices ---------------------------------------

    def sweep_practice(
        self, practice_id: str, should_stop: Callable[[], bool] = lambda: False
    ) -> SweepReport:
        report = SweepReport()
        here = self._here(practice_id)
        self._escalate(here, report, should_stop)
        cursor: str | None = None
        while not should_stop():
            notices, cursor = pending_notices(here.store, PAGE, cursor)
            for notice in notices:
                if should_stop():
                    break
                self._notify(here, notice, report)
            if cursor is None:
                break
        return report

    # ---- notices -----------------------------------------------------------------------

    def _notify(self, here: _Here, notice: Notice, report: SweepReport) -> None:
        store = here.store
        try:
            store.transact([claim_notice_op(notice)])
        except (ConditionFailed, TransactionConflict):
            report.contended += 1  # another sweep took it, or a newer message replaced it
            return
        user = here.users.get(notice.user_id)
        if user is None or user.status is not UserStatus.ACTIVE:
            report.skipped += 1
            return
        try:
            sent = self._deliver(here, notice, user)
        except DependencyUnavailable:
            if notice.attempts + 1 < MAX_ATTEMPTS:
                again = replace(notice, attempts=notice.attempts + 1, version=1)
                store.transact([notice_op(again)])
                report.retried += 1
            else:
                report.failed += 1
            return
        except (DeliveryRejected, AgreementRequired):
            # AgreementRequired: no business associate agreement in effect with the
            # provider; nothing was sent and retrying cannot help until the register changes.
            report.failed += 1
            return
        if not sent:
            report.skipped += 1
            return
        outbox = OutboxRepository(store, self.rt.cipher)
        now = self.now()
        ops: list[Operation] = [
            outbox.record_op(
                at=now,
                channel=s.channel,
                to=s.to,
                subject=s.subject,
                text=s.text,
                provider_id=s.provider_id,
                appointment_id="",
                patient_id=notice.patient_id,
                thread_id=notice.thread_id,
            )
            for s in sent
        ]
        self.rt.audit.write_with_audit(
            store,
            lambda: list(ops),
            self._event(here, "message.notify", notice.thread_id, notice.patient_id, notice.kind),
        )
        report.sent += len(sent)

    def _deliver(self, here: _Here, notice: Notice, user: User) -> list[Sent]:
        """Sends the notice; returns what was sent (for the outbox), [] when nothing could
        be (no address)."""
        values = {
            "practice_name": here.practice.name,
            "portal_link": self.rt.settings.portal_url,
        }
        notifier, sent = self.rt.notifier, list[Sent]()
        if user.roles & PORTAL_ROLES:
            # A proxy (guardian) gets the patient's wording, by email only: the same
            # content-free "a secure message is waiting".
            settings = here.practice.settings.messaging
            subject = render(settings.notification_subject, values)
            text = render(settings.notification_body, values)
            patient = (
                PatientRepository(here.store, self.rt.cipher).get(user.patient_id)
                if user.patient_id
                else None
            )
            # To a patient, "a message from your therapy practice" is PHI by itself.
            provider_id = notifier.send_email(user.email, subject, text, guard=here.guard)
            sent.append(Sent("email", user.email, subject, text, provider_id))
            if patient is not None and patient.phone and patient.communication.allows("sms"):
                sms = render(settings.notification_sms, values)
                provider_id = notifier.send_sms(patient.phone, sms, guard=here.guard)
                sent.append(Sent("sms", patient.phone, None, sms, provider_id))
            return sent
        subject = render(STAFF_SUBJECT, values)
        text = render(QUEUE_BODY if notice.kind == "escalation" else STAFF_BODY, values)
        # Staff notices name no patient and no content.
        provider_id = notifier.send_email(
            user.email, subject, text, guard=here.guard, carries_phi=False
        )
        return [Sent("email", user.email, subject, text, provider_id)]

    # ---- escalation --------------------------------------------------------------------

    def _escalate(self, here: _Here, report: SweepReport, should_stop: Callable[[], bool]) -> None:
        store = here.store
        repo = MessagingRepository(store, self.rt.cipher)
        now = self.now()
        cursor: str | None = None
        while not should_stop():
            due, cursor = due_escalations(store, now, PAGE, cursor)
            for at, thread_id in due:
                thread = repo.get_thread(thread_id)
                if (
                    thread is None
                    or thread.escalation_due is None
                    # The row's time is kept to the millisecond (RFC 3339), the thread's exactly.
                    or to_rfc3339(thread.escalation_due) != to_rfc3339(at)
                    or thread.awaiting_since is None
                    or thread.escalated_at is not None
                ):
                    store.transact([escalation_delete_op(at, thread_id)])  # answered meanwhile
                    continue
                try:
                    self._escalate_one(here, repo, thread, at, now)
                except ConditionFailed:
                    continue  # a reply landed at the same moment; the next run re-checks
                report.escalated += 1
            if cursor is None:
                break

    def _escalate_one(
        self, here: _Here, repo: MessagingRepository, thread: Thread, due: datetime, now: datetime
    ) -> None:
        changed = thread.model_copy(
            update={"escalated_at": now, "escalation_due": None, "version": thread.version + 1}
        )
        thread_put = repo.thread_op(changed)
        ops: list[Operation] = [
            thread_put,
            escalation_delete_op(due, thread.id),
            queue_op(now, changed),
        ]
        labels = repo.labels(thread_put)
        for user_id in changed.staff_ids:
            entry = repo.inbox_entry(user_id, thread.id)
            if entry is not None:
                flagged = entry.model_copy(update={"escalated": True, "version": entry.version + 1})
                ops.append(repo.inbox_op(flagged, labels))
        for user_id in self._queue_workers(here):
            ops.append(notice_op(Notice(thread.id, user_id, "escalation", thread.patient_id, now)))
        self.rt.audit.write_with_audit(
            here.store,
            lambda: list(ops),
            self._event(here, "message.escalate", thread.id, thread.patient_id, "unanswered"),
        )

    def _queue_workers(self, here: _Here) -> list[str]:
        """Active staff who work the practice queue (read once per practice per run)."""
        if here.queue_workers is None:
            table = permission_table()
            users, _ = here.users.page(1000, None)
            here.queue_workers = [
                u.id
                for u in users
                if u.status is UserStatus.ACTIVE and table.scopes(u.roles, "message.queue.read")
            ]
        return here.queue_workers

    # ---- retention ---------------------------------------------------------------------

    def retention_practice(self, practice_id: str) -> SweepReport:
        report = SweepReport()
        here = self._here(practice_id)
        repo = MessagingRepository(here.store, self.rt.cipher)
        years = here.practice.settings.messaging.retention_years
        now = self.now()
        before = now.replace(year=now.year - years, day=min(now.day, 28))
        cursor: str | None = None
        while True:
            threads, cursor = repo.inactive_since(before, PAGE, cursor)
            for thread in threads:
                until = retain_until(thread.last_message_at, years)
                if until > now or thread.legal_hold is not None:
                    continue
                if here.store.get(REVIEW_PK, thread.id) is not None:
                    continue
                self.rt.audit.write_with_audit(
                    here.store,
                    fixed_ops([review_op(thread, until, now)]),
                    self._event(
                        here, "message.retention.review", thread.id, thread.patient_id, "expired"
                    ),
                )
                report.listed_for_review += 1
            if cursor is None:
                return report

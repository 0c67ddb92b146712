"""Messages inside a visit: WebRTC signalling for local media (offers, answers, ICE
candidates) and in-session chat.

Only admitted participants send or receive. Group privacy: a patient's chat goes only to
the host; the host may write to one participant or to everyone. Signalling between two
patients' browsers is allowed (their media connect to each other in a group) but carries
no chat. The queue is polled (GET with an `after` cursor, answered at once): `tpm dev`
serves one request per function at a time, so a long poll would block every other visit
request (docs/decisions.md, 2026-12-06).

Sending is audited like any write. Receiving is audited when it delivers something (an
empty poll discloses nothing); the sent message's own event already names both ends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from ulid import ULID

from tpm.adapters.store.base import PracticeStore
from tpm.domain import telehealth as rules
from tpm.domain.telehealth import Participant, ParticipantKind, Signal, Visit
from tpm.errors import Conflict, NotFound
from tpm.ids import new_id
from tpm.repositories.visits import VisitRepository
from tpm.security.audit import AuditTrail
from tpm.security.audit_chain import AuditEvent
from tpm.services.context import ServiceContext
from tpm.services.telehealth import KIND, VisitAccess

SignalType = Literal["offer", "answer", "ice", "bye", "chat"]
EVERYONE = "everyone"
MAX_BATCH = 100
# Messages written at nearly the same moment may commit out of order: every poll looks
# this far back from its cursor, and clients drop ids they have already seen.
OVERLAP = timedelta(seconds=3)


class NotLocalMedia(Conflict):
    code = "not_local_media"
    message = "This visit's media service does its own signalling."


@dataclass(frozen=True)
class Mailbox:
    """One participant's view of a visit's queue, for staff, patients and guests alike."""

    store: PracticeStore
    repo: VisitRepository
    visit: Visit
    me: Participant
    now: datetime

    def outgoing(self, to: str, type_: SignalType, payload: str) -> list[Signal]:
        rules.check_started(self.visit)
        if not self.me.present:
            raise rules.ParticipantState(current_status=self.me.status.value)
        if type_ != "chat" and self.visit.media != "local":
            raise NotLocalMedia()
        people = {p.id: p for p in self.repo.participants(self.visit.id)}
        if to == EVERYONE:
            if type_ != "chat" or self.me.kind is not ParticipantKind.HOST:
                raise NotFound()
            targets = [p for p in people.values() if p.present and p.id != self.me.id]
        else:
            target = people.get(to)
            if target is None or not target.present or target.id == self.me.id:
                raise NotFound()
            if (
                type_ == "chat"
                and self.me.kind is not ParticipantKind.HOST
                and target.kind is not ParticipantKind.HOST
            ):
                # No chat between patients or guests: messages go only to the clinician.
                raise NotFound()
            targets = [target]
        return [
            Signal(
                id=new_id("sig"),
                visit_id=self.visit.id,
                sender_id=self.me.id,
                recipient_id=t.id,
                type=type_,
                payload=payload,
                sent_at=self.now,
            )
            for t in targets
        ]

    def incoming(self, after: str | None) -> list[Signal]:
        if not self.me.present:
            raise rules.ParticipantState(current_status=self.me.status.value)
        start = None
        if after:
            try:
                ms = ULID.from_str(after.removeprefix("sig_").upper()).milliseconds
            except ValueError:
                start = None
            else:
                back = ms - int(OVERLAP.total_seconds() * 1000)
                start = "sig_" + str(ULID.from_timestamp(max(back, 0) / 1000)).lower()[:10]
        return self.repo.signals_for(self.visit.id, self.me.id, start, MAX_BATCH)


def send_ops(repo: VisitRepository, signals: list[Signal]) -> Callable[[], list]:  # type: ignore[type-arg]
    return lambda: [repo.signal_op(s) for s in signals]


class VisitMessages:
    """Signed-in participants (patients and the host)."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.access = VisitAccess(ctx)

    def _mailbox(self, action: str, visit_id: str) -> tuple[object, Mailbox]:
        access, visit, me = self.access.as_participant(action, visit_id)
        return access, Mailbox(self.ctx.store, self.access.visits, visit, me, self.ctx.now())

    def send(self, visit_id: str, to: str, type_: SignalType, payload: str) -> list[Signal]:
        access, box = self._mailbox("visit.message", visit_id)
        signals = box.outgoing(to, type_, payload)
        self.ctx.write(
            access,  # type: ignore[arg-type]
            send_ops(self.access.visits, signals),
            KIND,
            box.visit.id,
            patient_id=self.access.audit_patient(box.visit, box.me),
            reason_code=f"{type_}_{len(signals)}",
        )
        return signals

    def receive(self, visit_id: str, after: str | None) -> list[Signal]:
        access, box = self._mailbox("visit.message", visit_id)
        signals = box.incoming(after)
        if signals:
            self.ctx.record(
                access,  # type: ignore[arg-type]
                KIND,
                box.visit.id,
                patient_id=self.access.audit_patient(box.visit, box.me),
                reason_code=f"received_{len(signals)}",
            )
        return signals


def guest_event(
    practice_id: str, me: Participant, action: str, visit: Visit, reason: str, meta: dict[str, str]
) -> AuditEvent:
    """A guest has no account: the event names the guest's participant id as an
    anonymous actor (their invitation, and who created it, are on record)."""
    return AuditEvent(
        practice_id=practice_id,
        actor_kind="anonymous",
        actor_id=me.id,
        roles=("guest",),
        action=action,
        resource_kind=KIND,
        resource_id=visit.id,
        patient_id=visit.patient_ids[0],
        source_ip=meta.get("source_ip", ""),
        user_agent=meta.get("user_agent", "")[:512],
        request_id=meta.get("request_id", ""),
        reason_code=reason,
    )


def guest_send(
    audit: AuditTrail, box: Mailbox, to: str, type_: SignalType, payload: str, meta: dict[str, str]
) -> list[Signal]:
    signals = box.outgoing(to, type_, payload)
    audit.write_with_audit(
        box.store,
        send_ops(box.repo, signals),
        guest_event(
            box.store.practice_id,
            box.me,
            "visit.message",
            box.visit,
            f"{type_}_{len(signals)}",
            meta,
        ),
    )
    return signals

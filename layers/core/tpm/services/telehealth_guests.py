"""Guests (an interpreter, a family member): no account, only a single-use, time-limited
invitation the host created. Redeeming it puts the guest in the same waiting room as
everybody else and gives them a visit secret for their own routes (status, messages,
leave); the host admits or denies them. Without a valid invitation: 404, nothing stored.

Tokens carry the practice id (not a secret, not PHI) so the request finds its practice
without a sign-in:
    invitation   <practice id>.<invitation id>.<secret>
    guest secret <practice id>.<visit id>.<participant id>.<secret>
Only SHA-256 hashes of the secrets are stored; comparison is constant-time.
"""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass

from tpm.adapters.store.base import ConditionFailed, PracticeStore
from tpm.domain import telehealth as rules
from tpm.domain.telehealth import Participant, ParticipantKind, ParticipantStatus, Signal, Visit
from tpm.errors import NotFound, Unauthenticated
from tpm.ids import new_id
from tpm.repositories.visits import VisitRepository
from tpm.runtime import Runtime
from tpm.services.rate_limits import enforce
from tpm.services.telehealth_messages import Mailbox, SignalType, guest_event, guest_send

_PART = r"[A-Za-z0-9_-]{1,64}"
_INVITATION = re.compile(
    rf"^(?P<practice>{_PART})\.(?P<inv>vin_[0-9a-z]{{26}})\.(?P<secret>{_PART})$"
)
_GUEST = re.compile(
    rf"^(?P<practice>{_PART})\.(?P<visit>vis_[0-9a-z]{{26}})\.(?P<part>vpt_[0-9a-z]{{26}})\.(?P<secret>{_PART})$"
)
REDEEM_PER_HOUR = 30


@dataclass(frozen=True)
class GuestSession:
    store: PracticeStore
    repo: VisitRepository
    visit: Visit
    me: Participant


class GuestService:
    def __init__(self, runtime: Runtime, meta: dict[str, str]) -> None:
        self.runtime = runtime
        self.meta = meta

    def _store(self, practice_id: str) -> PracticeStore:
        try:
            store = self.runtime.store.practice(practice_id)
        except Exception:
            raise NotFound() from None
        return store

    def redeem(self, token: str) -> tuple[GuestSession, str]:
        """Invitation -> a waiting guest and their visit secret (shown once)."""
        found = _INVITATION.match(token)
        if found is None:
            raise NotFound()
        store = self._store(found["practice"])
        enforce(
            store,
            self.runtime.clock,
            "visit-guest-redeem",
            self.meta.get("source_ip") or "unknown",
            REDEEM_PER_HOUR,
            3600,
        )
        repo = VisitRepository(store, self.runtime.cipher)
        invitation = repo.invitation(found["inv"])
        now = self.runtime.clock.now()
        if (
            invitation is None
            or not hmac.compare_digest(invitation.token_hash, rules.token_hash(found["secret"]))
            or invitation.redeemed_at is not None
            or invitation.expires_at <= now
        ):
            raise NotFound()
        visit = repo.get(invitation.visit_id)
        if visit is None or visit.ended:
            raise NotFound()
        secret = secrets.token_urlsafe(32)
        guest = Participant(
            id=new_id("vpt"),
            visit_id=visit.id,
            kind=ParticipantKind.GUEST,
            alias=invitation.alias,
            joined_at=now,
            guest_token_hash=rules.token_hash(secret),
        )
        used = invitation.model_copy(update={"redeemed_at": now, "version": invitation.version + 1})
        try:
            self.runtime.audit.write_with_audit(
                store,
                lambda: [repo.invitation_op(used, create=False), *repo.add_participant_ops(guest)],
                guest_event(
                    store.practice_id, guest, "visit.guest_join", visit, "waiting", self.meta
                ),
            )
        except ConditionFailed:
            raise NotFound() from None  # redeemed by someone else a moment ago: single use
        token_out = f"{store.practice_id}.{visit.id}.{guest.id}.{secret}"
        return GuestSession(store, repo, visit, guest), token_out

    def session(self, token: str) -> GuestSession:
        found = _GUEST.match(token or "")
        if found is None:
            raise Unauthenticated()
        store = self._store(found["practice"])
        repo = VisitRepository(store, self.runtime.cipher)
        me = repo.participant(found["visit"], found["part"])
        if (
            me is None
            or me.kind is not ParticipantKind.GUEST
            or me.guest_token_hash is None
            or not hmac.compare_digest(me.guest_token_hash, rules.token_hash(found["secret"]))
        ):
            raise Unauthenticated()
        visit = repo.get(me.visit_id)
        if visit is None:
            raise Unauthenticated()
        return GuestSession(store, repo, visit, me)

    def status(self, token: str) -> tuple[GuestSession, list[Participant]]:
        s = self.session(token)
        self.runtime.audit.record(
            s.store,
            guest_event(
                s.store.practice_id, s.me, "visit.guest_read", s.visit, s.me.status.value, self.meta
            ),
        )
        return s, s.repo.participants(s.visit.id)

    def leave(self, token: str) -> Participant:
        s = self.session(token)
        rules.check_open(s.visit)
        out = rules.leave(s.me, ParticipantStatus.LEFT, self.runtime.clock.now())
        if s.me.present and s.visit.meeting_id and s.me.attendee_id:
            self.runtime.video.delete_attendee(s.visit.meeting_id, s.me.attendee_id)
        self.runtime.audit.write_with_audit(
            s.store,
            lambda: [s.repo.participant_op(out)],
            guest_event(s.store.practice_id, s.me, "visit.guest_leave", s.visit, "left", self.meta),
        )
        return out

    def _mailbox(self, token: str) -> Mailbox:
        s = self.session(token)
        return Mailbox(s.store, s.repo, s.visit, s.me, self.runtime.clock.now())

    def send(self, token: str, to: str, type_: SignalType, payload: str) -> list[Signal]:
        return guest_send(self.runtime.audit, self._mailbox(token), to, type_, payload, self.meta)

    def receive(self, token: str, after: str | None) -> list[Signal]:
        box = self._mailbox(token)
        signals = box.incoming(after)
        if signals:
            self.runtime.audit.record(
                box.store,
                guest_event(
                    box.store.practice_id,
                    box.me,
                    "visit.message",
                    box.visit,
                    f"received_{len(signals)}",
                    self.meta,
                ),
            )
        return signals

"""The local notifier: nothing leaves the machine. Messages are kept in memory (the last
1000): tests read them, and `tpm dev`'s /dev/outbox page shows them next to the ones the
sweeps also store (sealed) in the practice's OUTBOX partition for GET /v1/outbox."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tpm.adapters.notify import unsubscribe_headers
from tpm.adapters.outbound import OutboundGuard
from tpm.ids import new_id

_KEEP = 1000  # bounded: a long `tpm dev` session must not grow without limit


@dataclass(frozen=True)
class OutboxEntry:
    message_id: str
    channel: str
    to: str
    subject: str | None
    text: str
    headers: tuple[tuple[str, str], ...] = ()
    sent_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))


class OutboxNotifier:
    """`vendor`: the provider this outbox stands in for (`tpm dev` says `aws`), asked about
    like the real one; None (tests) keeps messages without asking anyone."""

    def __init__(self, vendor: str | None = None) -> None:
        self.vendor = vendor
        self._lock = threading.Lock()
        self._sent: list[OutboxEntry] = []

    def send_email(
        self,
        to: str,
        subject: str,
        text: str,
        *,
        guard: OutboundGuard,
        carries_phi: bool = True,
        unsubscribe_url: str | None = None,
    ) -> str:
        if self.vendor is not None:
            guard.require(self.vendor, carries_phi=carries_phi)
        headers = tuple(unsubscribe_headers(unsubscribe_url)) if unsubscribe_url else ()
        return self._keep("email", to, subject, text, headers)

    def send_sms(
        self, to: str, text: str, *, guard: OutboundGuard, carries_phi: bool = True
    ) -> str:
        if self.vendor is not None:
            guard.require(self.vendor, carries_phi=carries_phi)
        return self._keep("sms", to, None, text)

    @property
    def sent(self) -> list[OutboxEntry]:
        with self._lock:
            return list(self._sent)

    def _keep(
        self,
        channel: str,
        to: str,
        subject: str | None,
        text: str,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> str:
        entry = OutboxEntry(new_id("obx"), channel, to, subject, text, headers)
        with self._lock:
            self._sent.append(entry)
            del self._sent[:-_KEEP]
        return entry.message_id

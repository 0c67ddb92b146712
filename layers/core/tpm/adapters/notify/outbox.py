"""The local notifier: nothing leaves the machine. Messages are kept in memory for tests;
the sweep stores each one (sealed) in the practice's OUTBOX partition, which the local
server's /dev/outbox page and GET /v1/outbox show."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from tpm.ids import new_id

_KEEP = 1000  # bounded: a long `tpm dev` session must not grow without limit


@dataclass(frozen=True)
class OutboxEntry:
    message_id: str
    channel: str
    to: str
    subject: str | None
    text: str


class OutboxNotifier:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: list[OutboxEntry] = []

    def send_email(self, to: str, subject: str, text: str) -> str:
        return self._keep("email", to, subject, text)

    def send_sms(self, to: str, text: str) -> str:
        return self._keep("sms", to, None, text)

    @property
    def sent(self) -> list[OutboxEntry]:
        with self._lock:
            return list(self._sent)

    def _keep(self, channel: str, to: str, subject: str | None, text: str) -> str:
        entry = OutboxEntry(new_id("obx"), channel, to, subject, text)
        with self._lock:
            self._sent.append(entry)
            del self._sent[:-_KEEP]
        return entry.message_id

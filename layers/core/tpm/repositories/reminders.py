"""Stored shape of reminders: settings, due rows, delivery log, outbox, opt-outs.

REMINDER_SETTINGS      CURRENT                            the practice's rules/templates (version)
PATIENT#<pid>          REMINDER_TEMPLATE                  per-patient override (sealed, version)
REMINDER_DUE           <due>#<apt>#<rule>#v<apt version>  a message to send at <due> (UTC);
                                                          status due|sending, version
REMINDERS#<apt>        SCHEDULED#v<apt version>           which due rows a booking made
REMINDER_LOG#<apt>     <rule>#v<apt version>#<pid>        final status (sent/failed/skipped),
                                                          written with Absent: the
                                                          idempotency key apt x rule x patient
OUTBOX                 <sent at>#<msg id>                 every message sent (sealed text):
                                                          reminders and "secure message
                                                          waiting" notices (thread_id)
OPTOUT_TOKEN           <sha256(token)>                    {patient_id, channel} for the link
(Opt-outs live on the patient record: communication.<channel>_opted_out_at.)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from tpm.adapters.store.base import (
    Absent,
    Delete,
    Item,
    Operation,
    PracticeStore,
    Put,
    VersionIs,
)
from tpm.clock import to_rfc3339
from tpm.domain.reminders import Channel, MessageTemplate, ReminderSettings
from tpm.ids import new_id
from tpm.repositories.sealing import Sealer
from tpm.security.envelope import FieldCipher

SETTINGS_KEY = ("REMINDER_SETTINGS", "CURRENT")
DUE_PK = "REMINDER_DUE"
OUTBOX_PK = "OUTBOX"
Status = Literal["sent", "failed", "skipped"]


def _stamp(moment: datetime) -> str:
    return to_rfc3339(moment)


def token_hash(token: str) -> str:
    """What is stored for a secret URL token: a hash, never the token itself."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# ---- settings and overrides ---------------------------------------------------------------


class ReminderSettingsRepository:
    def __init__(self, store: PracticeStore, cipher: FieldCipher) -> None:
        self.store = store
        self.cipher = cipher

    def get(self) -> ReminderSettings:
        item = self.store.get(*SETTINGS_KEY)
        if item is None:
            return ReminderSettings()
        data = json.loads(str(item["settings"]))
        return ReminderSettings.model_validate({**data, "version": int(item["version"])})

    def save_op(self, settings: ReminderSettings) -> Put:
        """`settings.version` is the new version; the stored one must be one behind."""
        body = settings.model_dump(mode="json", exclude={"version"})
        item = {
            "pk": SETTINGS_KEY[0],
            "sk": SETTINGS_KEY[1],
            "settings": json.dumps(body, sort_keys=True),
            "version": settings.version,
        }
        condition = Absent() if settings.version == 1 else VersionIs(settings.version - 1)
        return Put(item, condition)

    # A per-patient override may name the service, so its text is sealed like PHI.
    def override(self, patient_id: str) -> tuple[dict[str, MessageTemplate], int] | None:
        item = self.store.get(f"PATIENT#{patient_id}", "REMINDER_TEMPLATE")
        if item is None:
            return None
        sealer = Sealer(self.cipher, self.store.practice_id, "reminder-template", patient_id)
        raw = json.loads(sealer.open("templates", item["templates"]) or "{}")
        templates = {k: MessageTemplate.model_validate(v) for k, v in raw.items()}
        return templates, int(item["version"])

    def save_override_op(
        self, patient_id: str, templates: dict[str, MessageTemplate], version: int
    ) -> Put:
        sealer = Sealer(self.cipher, self.store.practice_id, "reminder-template", patient_id)
        body = json.dumps({k: v.model_dump(mode="json") for k, v in templates.items()})
        item = {
            "pk": f"PATIENT#{patient_id}",
            "sk": "REMINDER_TEMPLATE",
            "patient_id": patient_id,
            "templates": sealer.seal("templates", body),
            "version": version,
        }
        return Put(item, Absent() if version == 1 else VersionIs(version - 1))


# ---- due rows -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DueReminder:
    """One message (one rule, one appointment) waiting to be sent to its patients."""

    due: datetime
    appointment_id: str
    rule_id: str
    kind: str  # confirmation | reminder | waitlist_offer
    channel: Channel
    patient_ids: tuple[str, ...]
    start: datetime
    appointment_version: int
    clinician_id: str = ""
    attempts: int = 0
    status: str = "due"  # due | sending
    claimed_at: str | None = None
    version: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def sk(self) -> str:
        return due_sk(self.due, self.appointment_id, self.rule_id, self.appointment_version)

    @property
    def occurrence(self) -> str:
        """The idempotency key of this message per patient: rule x appointment version."""
        return f"{self.rule_id}#v{self.appointment_version}"


def due_sk(due: datetime, appointment_id: str, rule_id: str, appointment_version: int) -> str:
    return f"{_stamp(due)}#{appointment_id}#{rule_id}#v{appointment_version}"


def due_item(row: DueReminder) -> Item:
    return {
        "pk": DUE_PK,
        "sk": row.sk,
        "due": _stamp(row.due),
        "appointment_id": row.appointment_id,
        "rule_id": row.rule_id,
        "kind": row.kind,
        "channel": row.channel,
        "patient_ids": list(row.patient_ids),
        "start": _stamp(row.start),
        "appointment_version": row.appointment_version,
        "clinician_id": row.clinician_id,
        "attempts": row.attempts,
        "status": row.status,
        "claimed_at": row.claimed_at,
        "version": row.version,
    }


def due_from_item(item: Item) -> DueReminder:
    return DueReminder(
        due=datetime.fromisoformat(str(item["due"])),
        appointment_id=str(item["appointment_id"]),
        rule_id=str(item["rule_id"]),
        kind=str(item["kind"]),
        channel="sms" if item["channel"] == "sms" else "email",
        patient_ids=tuple(str(p) for p in item["patient_ids"]),
        start=datetime.fromisoformat(str(item["start"])),
        appointment_version=int(item["appointment_version"]),
        clinician_id=str(item.get("clinician_id") or ""),
        attempts=int(item.get("attempts") or 0),
        status=str(item.get("status") or "due"),
        claimed_at=None if item.get("claimed_at") is None else str(item["claimed_at"]),
        version=int(item["version"]),
    )


class DueRepository:
    def __init__(self, store: PracticeStore) -> None:
        self.store = store

    def due_before(
        self, now: datetime, limit: int, cursor: str | None
    ) -> tuple[list[Item], str | None]:
        # "<now>#~" sorts after every sk whose due time is <= now.
        page = self.store.query(
            DUE_PK, sk_between=("0", f"{_stamp(now)}#~"), limit=limit, cursor=cursor
        )
        return page.items, page.next_cursor

    @staticmethod
    def create_op(row: DueReminder) -> Put:
        return Put(due_item(row), Absent())

    @staticmethod
    def transition_op(row: DueReminder, **changes: Any) -> Put:
        """The row with `changes`, version+1, only if nobody moved it since we read it."""
        item = {**due_item(row), **changes, "version": row.version + 1}
        return Put(item, VersionIs(row.version))

    @staticmethod
    def delete_op(row: DueReminder, *, claimed_version: int | None = None) -> Delete:
        condition = None if claimed_version is None else VersionIs(claimed_version)
        return Delete(DUE_PK, row.sk, condition)

    @staticmethod
    def schedule_op(appointment_id: str, appointment_version: int, due_sks: list[str]) -> Put:
        return Put(
            {
                "pk": f"REMINDERS#{appointment_id}",
                "sk": f"SCHEDULED#v{appointment_version}",
                "due_sks": due_sks,
            }
        )

    def cancel_ops(self, appointment_id: str) -> list[Operation]:
        ops: list[Operation] = []
        page = self.store.query(f"REMINDERS#{appointment_id}", sk_prefix="SCHEDULED#", limit=20)
        for item in page.items:
            ops.append(Delete(str(item["pk"]), str(item["sk"])))
            ops += [Delete(DUE_PK, str(sk)) for sk in item.get("due_sks") or []]
        return ops


# ---- delivery log and outbox --------------------------------------------------------------


def log_op(
    row: DueReminder,
    patient_id: str,
    status: Status,
    reason: str,
    at: datetime,
    message_id: str | None = None,
) -> Put:
    return Put(
        {
            "pk": f"REMINDER_LOG#{row.appointment_id}",
            "sk": f"{row.occurrence}#{patient_id}",
            "appointment_id": row.appointment_id,
            "rule_id": row.rule_id,
            "channel": row.channel,
            "patient_id": patient_id,
            "status": status,
            "reason": reason,
            "attempts": row.attempts + 1,
            "at": _stamp(at),
            "message_id": message_id,
        },
        Absent(),
    )


def delivery_log(store: PracticeStore, appointment_id: str) -> list[Item]:
    return store.query(f"REMINDER_LOG#{appointment_id}", limit=100).items


@dataclass(frozen=True)
class OutboxMessage:
    id: str
    sent_at: str
    channel: str
    to: str
    subject: str | None
    text: str
    appointment_id: str
    patient_id: str
    provider_id: str
    thread_id: str | None = None  # a "secure message waiting" notice (tpm.services.messaging_sweep)


class OutboxRepository:
    def __init__(self, store: PracticeStore, cipher: FieldCipher) -> None:
        self.store = store
        self.cipher = cipher

    def _sealer(self, message_id: str) -> Sealer:
        return Sealer(self.cipher, self.store.practice_id, "outbox-message", message_id)

    def record_op(
        self,
        *,
        at: datetime,
        channel: str,
        to: str,
        subject: str | None,
        text: str,
        appointment_id: str,
        patient_id: str,
        provider_id: str,
        thread_id: str | None = None,
    ) -> Put:
        message_id = new_id("msg")
        sealer = self._sealer(message_id)
        return Put(
            {
                "pk": OUTBOX_PK,
                "sk": f"{_stamp(at)}#{message_id}",
                "id": message_id,
                "sent_at": _stamp(at),
                "channel": channel,
                "to": sealer.seal("to", to),
                "subject": sealer.seal("subject", subject),
                "text": sealer.seal("text", text),
                "appointment_id": appointment_id,
                "patient_id": patient_id,
                "provider_id": provider_id,
                "thread_id": thread_id,
            },
            Absent(),
        )

    def page(self, limit: int, cursor: str | None) -> tuple[list[OutboxMessage], str | None]:
        page = self.store.query(OUTBOX_PK, limit=limit, cursor=cursor, descending=True)
        return [self._from_item(i) for i in page.items], page.next_cursor

    def _from_item(self, item: Item) -> OutboxMessage:
        sealer = self._sealer(str(item["id"]))
        return OutboxMessage(
            id=str(item["id"]),
            sent_at=str(item["sent_at"]),
            channel=str(item["channel"]),
            to=sealer.open("to", item.get("to")) or "",
            subject=sealer.open("subject", item.get("subject")),
            text=sealer.open("text", item.get("text")) or "",
            appointment_id=str(item["appointment_id"]),
            patient_id=str(item["patient_id"]),
            provider_id=str(item["provider_id"]),
            thread_id=None if item.get("thread_id") is None else str(item["thread_id"]),
        )


# ---- opt-out links ----------------------------------------------------------------------


def opt_out_token(cipher: FieldCipher, practice_id: str, patient_id: str, channel: str) -> str:
    """`<practice id>.<HMAC>`: the practice id (opaque, not PHI) says where to look; the
    HMAC under the practice's blind-index key is the unguessable part."""
    mac = cipher.blind_index(practice_id, "reminder-opt-out", f"{patient_id}|{channel}")
    return f"{practice_id}.{mac}"


class OptOutTokens:
    def __init__(self, store: PracticeStore) -> None:
        self.store = store

    @staticmethod
    def register_op(token: str, patient_id: str, channel: str) -> Put:
        # Stored as a hash: the table alone does not give working links.
        return Put(
            {
                "pk": "OPTOUT_TOKEN",
                "sk": token_hash(token),
                "patient_id": patient_id,
                "channel": channel,
            }
        )

    def resolve(self, token: str) -> tuple[str, Channel] | None:
        item = self.store.get("OPTOUT_TOKEN", token_hash(token))
        if item is None:
            return None
        return str(item["patient_id"]), "sms" if item["channel"] == "sms" else "email"

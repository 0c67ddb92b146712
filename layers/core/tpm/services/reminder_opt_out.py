"""Opting out of reminders without signing in: the email link and an SMS "STOP" reply.

Both take effect at once: they stamp the channel's opt-out on the patient's record
(`communication.<channel>_opted_out_at`), which the sweep checks before every send.
Neither answer reveals whether a patient or phone number is known.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import partial
from typing import Any

from tpm.adapters.store.base import ConditionFailed, TransactionConflict
from tpm.domain.patients import Channel, normalise_phone
from tpm.errors import NotFound
from tpm.ids import is_id
from tpm.repositories.patients import PatientRepository
from tpm.repositories.public_tokens import SmsNumbers
from tpm.repositories.reminders import OptOutTokens
from tpm.runtime import Runtime
from tpm.security.audit_chain import AuditEvent
from tpm.services.authentication import RequestMeta

STOP_WORDS = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "optout"})


@dataclass(frozen=True)
class InboundSms:
    origination: str
    destination: str
    body: str


def parse_inbound(payload: dict[str, Any]) -> InboundSms | None:
    """The AWS End User Messaging two-way SMS record, bare (local simulation) or wrapped in
    an SNS notification envelope. None for anything else (subscription confirmations
    are done by the operator, never by fetching a URL from a request)."""
    if payload.get("Type") == "Notification" and isinstance(payload.get("Message"), str):
        try:
            payload = json.loads(payload["Message"])
        except ValueError:
            return None
    origination = payload.get("originationNumber")
    destination = payload.get("destinationNumber")
    body = payload.get("messageBody")
    if not all(isinstance(v, str) and v for v in (origination, destination, body)):
        return None
    return InboundSms(str(origination), str(destination), str(body))


def is_stop(body: str) -> bool:
    words = body.strip().lower().split()
    return bool(words) and words[0].strip(".!") in STOP_WORDS


def _opt_out(
    runtime: Runtime,
    practice_id: str,
    patient_id: str,
    channel: Channel,
    actor: str,
    meta: RequestMeta,
) -> bool:
    store = runtime.store.practice(practice_id)
    repo = PatientRepository(store, runtime.cipher)
    event = AuditEvent(
        practice_id=practice_id,
        actor_kind="anonymous",
        actor_id=actor,
        action="reminder.opt_out",
        resource_kind="patient",
        resource_id=patient_id,
        patient_id=patient_id,
        source_ip=meta.source_ip,
        user_agent=meta.user_agent,
        request_id=meta.request_id,
        reason_code=f"{channel}_opt_out",
    )
    for _ in range(5):  # a concurrent edit of the record: re-read and stamp again
        before = repo.get(patient_id)
        if before is None:
            return False
        after = before.opt_out(channel, runtime.clock.now())
        if after is before:
            return True  # already opted out
        ops = repo.update_ops(before, after)
        try:
            runtime.audit.write_with_audit(store, partial(list, ops), event)
        except (ConditionFailed, TransactionConflict):
            continue
        return True
    raise TransactionConflict()


_LINK_TOKEN = re.compile(r"^(prx_[0-9a-z]{26})\.([A-Za-z0-9_-]{43})$")


def _resolve_link(runtime: Runtime, token: str) -> tuple[str, str, Channel]:
    """(practice, patient, channel) of a link the sweep issued; NotFound for anything else
    (the same answer for a malformed token, an unknown practice, or a forged HMAC)."""
    match = _LINK_TOKEN.match(token)
    if match is None or not is_id(match.group(1), "prx"):
        raise NotFound()
    practice_id = match.group(1)
    found = OptOutTokens(runtime.store.practice(practice_id)).resolve(token)
    if found is None:
        raise NotFound()
    return practice_id, found[0], found[1]


def check_link(runtime: Runtime, token: str) -> None:
    """The link is one the sweep issued (NotFound otherwise). Changes and records nothing:
    a GET of the link — which mail scanners make without anyone clicking — only shows the
    confirmation page."""
    _resolve_link(runtime, token)


def opt_out_by_link(runtime: Runtime, token: str, meta: RequestMeta) -> None:
    """The opt-out itself (a POST: the confirmation page's button, or the mail client's
    RFC 8058 one-click). NotFound for anything but a link the sweep issued."""
    practice_id, patient_id, channel = _resolve_link(runtime, token)
    if not _opt_out(runtime, practice_id, patient_id, channel, "opt-out-link", meta):
        raise NotFound()


def sms_inbound(runtime: Runtime, message: InboundSms, meta: RequestMeta) -> int:
    """Opts every patient with the sender's phone out of SMS, if the message is a STOP to a
    practice's number. Returns how many records changed (for tests; never shown)."""
    if not is_stop(message.body):
        return 0
    practice_id = SmsNumbers(runtime.store).practice_for(message.destination)
    if practice_id is None:
        return 0
    repo = PatientRepository(runtime.store.practice(practice_id), runtime.cipher)
    matched = repo.matching("phone", normalise_phone(message.origination))
    changed = 0
    for patient_id in matched:
        # The index may be stale for a moment: only stamp a record whose phone matches.
        patient = repo.get(patient_id)
        if patient is None or not patient.phone:
            continue
        if normalise_phone(patient.phone) != normalise_phone(message.origination):
            continue
        if _opt_out(runtime, practice_id, patient_id, "sms", "sms-inbound", meta):
            changed += 1
    return changed

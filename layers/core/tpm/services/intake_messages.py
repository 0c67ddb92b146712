"""What intake sends to a patient: the invitation, the verification code and step
reminders. Minimum necessary, like appointment reminders (tpm.domain.reminders): the
practice's name, the patient's first name and a portal link — never what the practice
treats, never the word "intake" (it is on the reminders' deny-list: it tells a reader the
person is starting care). Texts are fixed; tests run them through the reminders' content
check. Every message is recorded (sealed) in the practice's outbox, like reminders.
"""

from __future__ import annotations

from typing import Final

from tpm.adapters.outbound import OutboundGuard
from tpm.adapters.store.base import Operation
from tpm.domain.patients import Patient
from tpm.repositories.reminders import OutboxRepository
from tpm.runtime import Runtime

INVITATION_SUBJECT: Final = "{practice_name} invites you to its patient portal"
INVITATION_BODY: Final = (
    "Hello {first_name},\n\n{practice_name} has set up a portal account for you. Open this "
    "link to choose a password and get started (it works for 7 days):\n{portal_link}\n"
)
CODE_SUBJECT: Final = "Your {practice_name} portal code"
CODE_BODY: Final = (
    "Hello {first_name},\n\nYour one-time code is {code}. It works for 15 minutes. If you "
    "did not ask for it, you can ignore this message.\n"
)
CODE_SMS: Final = "{practice_name}: your one-time portal code is {code}. It works for 15 minutes."
REMINDER_SUBJECT: Final = "{practice_name} is waiting for a few steps from you"
REMINDER_BODY: Final = (
    "Hello {first_name},\n\nA few steps are waiting for you in the {practice_name} portal:\n"
    "{portal_link}\n"
)
REMINDER_SMS: Final = (
    "{practice_name}: a few steps are waiting for you in the portal: {portal_link}"
)
STAFF_SUBJECT: Final = "A patient's portal steps are waiting for review"
STAFF_BODY: Final = "Open the staff app's queue in {practice_name} to review: {portal_link}\n"


def fill(text: str, **values: str) -> str:
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    return text


def first_name(patient: Patient) -> str:
    return patient.preferred_name or patient.legal_first_name


def send(
    runtime: Runtime,
    store_practice: object,
    patient: Patient,
    *,
    channel: str,
    subject: str | None,
    text: str,
    intake_id: str,
    guard: OutboundGuard,
) -> Operation:
    """Deliver now and return the outbox row to write with the change that caused it."""
    to = patient.email if channel == "email" else patient.phone
    if not to:
        raise ValueError("no address for this channel")
    if channel == "email":
        provider_id = runtime.notifier.send_email(to, subject or "", text, guard=guard)
    else:
        provider_id = runtime.notifier.send_sms(to, text, guard=guard)
    outbox = OutboxRepository(store_practice, runtime.cipher)  # type: ignore[arg-type]
    return outbox.record_op(
        at=runtime.clock.now(),
        channel=channel,
        to=to,
        subject=subject,
        text=text,
        appointment_id=intake_id,
        patient_id=patient.id,
        provider_id=provider_id,
    )

"""Email through SES and SMS through SNS, as one Notifier."""

from __future__ import annotations

from tpm.adapters.notify.ses import SesNotifier
from tpm.adapters.notify.sns import SnsSmsNotifier


class AwsNotifier:
    def __init__(self, email: SesNotifier, sms: SnsSmsNotifier) -> None:
        self.email = email
        self.sms = sms

    def send_email(self, to: str, subject: str, text: str) -> str:
        return self.email.send_email(to, subject, text)

    def send_sms(self, to: str, text: str) -> str:
        return self.sms.send_sms(to, text)

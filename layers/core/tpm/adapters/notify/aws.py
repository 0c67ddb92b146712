"""Email through SES and SMS through SNS, as one Notifier. Both are AWS services, covered
by the practice's business associate agreement with AWS (vendor key `aws`)."""

from __future__ import annotations

from tpm.adapters.notify.ses import SesNotifier
from tpm.adapters.notify.sns import SnsSmsNotifier
from tpm.adapters.outbound import OutboundGuard


class AwsNotifier:
    vendor: str | None = "aws"

    def __init__(self, email: SesNotifier, sms: SnsSmsNotifier) -> None:
        self.email = email
        self.sms = sms

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
        return self.email.send_email(
            to,
            subject,
            text,
            guard=guard,
            carries_phi=carries_phi,
            unsubscribe_url=unsubscribe_url,
        )

    def send_sms(
        self, to: str, text: str, *, guard: OutboundGuard, carries_phi: bool = True
    ) -> str:
        return self.sms.send_sms(to, text, guard=guard, carries_phi=carries_phi)

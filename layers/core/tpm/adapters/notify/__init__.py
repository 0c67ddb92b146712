"""Email and SMS behind one port, chosen by TPM_NOTIFY (see tpm.config):

  outbox://[?vendor=aws]                     local: keeps messages for the dev outbox page
  aws://?from=no-reply@example.org[&sms_from=+15550100][&configuration_set=name]
                                             SES (v2) email + SNS SMS

Every send names a guard (tpm.adapters.outbound): the AWS notifier asks it about the vendor
`aws` before calling SES or SNS, so a practice without an executed business associate
agreement with AWS sends nothing. The outbox keeps messages on this machine; given
`?vendor=<key>` (as `tpm dev` does) it stands in for that provider and asks the guard too,
so the register's effect can be seen locally.

The sweep (tpm.services.reminders) writes every message it sends to the practice's
OUTBOX partition (sealed) whichever adapter delivered it: that is the delivery log staff
see, and the page `tpm dev` shows.
"""

from __future__ import annotations

from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from tpm.adapters.outbound import OutboundGuard
from tpm.errors import TpmError


class DeliveryRejected(TpmError):
    """The provider refused this message for good (bad address, suppressed recipient):
    retrying cannot help. Transient failures raise tpm.errors.DependencyUnavailable."""

    code = "delivery_rejected"
    message = "The message was not accepted for delivery."


def unsubscribe_headers(url: str) -> list[tuple[str, str]]:
    """RFC 2369 List-Unsubscribe with RFC 8058 one-click: the mail client POSTs
    `List-Unsubscribe=One-Click` to the URL (never a GET, which scanners prefetch)."""
    return [
        ("List-Unsubscribe", f"<{url}>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
    ]


class Notifier(Protocol):
    # The vendor key this notifier delivers through (None: nothing leaves this machine).
    vendor: str | None

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
        """Sends a plain-text email; returns the provider's message id. Asks `guard`
        first (AgreementRequired: nothing was sent). A message to or about a patient
        carries PHI; only staff notices with no patient detail may say otherwise.

        `unsubscribe_url` (messages a patient may stop): sent as `List-Unsubscribe` with
        RFC 8058 one-click `List-Unsubscribe-Post`, so mail clients offer "unsubscribe"
        and POST to it themselves (a GET of the link only shows a confirmation page)."""
        ...

    def send_sms(
        self, to: str, text: str, *, guard: OutboundGuard, carries_phi: bool = True
    ) -> str:
        """Sends an SMS to an E.164 number; returns the provider's message id. Asks
        `guard` first, as send_email does."""
        ...


def open_notifier(url: str, *, region: str | None = None) -> Notifier:
    parts = urlsplit(url)
    if parts.scheme == "outbox":
        from tpm.adapters.notify.outbox import OutboxNotifier

        vendor = (parse_qs(parts.query).get("vendor") or [""])[0] or None
        return OutboxNotifier(vendor=vendor)
    if parts.scheme == "aws":
        from tpm.adapters.notify.aws import AwsNotifier
        from tpm.adapters.notify.ses import SesNotifier
        from tpm.adapters.notify.sns import SnsSmsNotifier

        query = parse_qs(parts.query)
        sender = (query.get("from") or [""])[0]
        if not sender:
            raise ValueError("TPM_NOTIFY aws:// needs ?from=<verified sender address>")
        sms_from = (query.get("sms_from") or [""])[0] or None
        configuration_set = (query.get("configuration_set") or [""])[0] or None
        return AwsNotifier(
            SesNotifier(sender, region=region, configuration_set=configuration_set),
            SnsSmsNotifier(region=region, sender=sms_from),
        )
    raise ValueError("TPM_NOTIFY must be outbox:// or aws://?from=...")

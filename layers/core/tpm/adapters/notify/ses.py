"""Email through Amazon SES (API v2). The client is created lazily, once."""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from tpm.adapters.notify import unsubscribe_headers
from tpm.adapters.notify.errors import translate
from tpm.adapters.outbound import OutboundGuard

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=5)


class SesNotifier:
    vendor: str | None = "aws"

    def __init__(
        self,
        sender: str,
        *,
        region: str | None = None,
        client: Any = None,
        configuration_set: str | None = None,
    ) -> None:
        self.sender = sender
        # The stack's configuration set: TLS required, bounces and complaints suppressed.
        self.configuration_set = configuration_set
        self._region = region
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = boto3.client("sesv2", region_name=self._region, config=_CONFIG)
        return self._client

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
        guard.require("aws", carries_phi=carries_phi)  # before anything leaves
        request: dict[str, Any] = {
            "FromEmailAddress": self.sender,
            "Destination": {"ToAddresses": [to]},
            "Content": {
                "Simple": {
                    "Subject": {"Data": subject, "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": text, "Charset": "UTF-8"}},
                }
            },
        }
        if unsubscribe_url:
            request["Content"]["Simple"]["Headers"] = [
                {"Name": name, "Value": value}
                for name, value in unsubscribe_headers(unsubscribe_url)
            ]
        if self.configuration_set:
            request["ConfigurationSetName"] = self.configuration_set
        try:
            response = self.client.send_email(**request)
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc) from None  # the provider's message may quote the address
        return str(response["MessageId"])

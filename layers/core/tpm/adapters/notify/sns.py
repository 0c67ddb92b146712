"""SMS through Amazon SNS (publish to a phone number). The client is created lazily."""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from tpm.adapters.notify.errors import translate
from tpm.adapters.outbound import OutboundGuard

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=5)


class SnsSmsNotifier:
    vendor: str | None = "aws"

    def __init__(
        self, *, region: str | None = None, sender: str | None = None, client: Any = None
    ) -> None:
        self.sender = sender
        self._region = region
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = boto3.client("sns", region_name=self._region, config=_CONFIG)
        return self._client

    def send_sms(
        self, to: str, text: str, *, guard: OutboundGuard, carries_phi: bool = True
    ) -> str:
        guard.require("aws", carries_phi=carries_phi)  # before anything leaves
        attributes: dict[str, dict[str, str]] = {
            # Transactional: higher delivery priority, and never treated as marketing.
            "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"},
        }
        if self.sender:
            attributes["AWS.MM.SMS.OriginationNumber"] = {
                "DataType": "String",
                "StringValue": self.sender,
            }
        try:
            response = self.client.publish(
                PhoneNumber=to, Message=text, MessageAttributes=attributes
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc) from None
        return str(response["MessageId"])

"""The email/SMS adapters against moto (SES v2, SNS) and injected provider failures:
a transient error is DependencyUnavailable (the sweep retries), a permanent one is
DeliveryRejected (recorded failed), and neither quotes the recipient."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from moto.sns.models import sns_backends
from support.outbound import RecordingGuard

from tpm.adapters.notify import DeliveryRejected, open_notifier
from tpm.adapters.notify.aws import AwsNotifier
from tpm.adapters.notify.outbox import OutboxNotifier
from tpm.adapters.notify.ses import SesNotifier
from tpm.adapters.notify.sns import SnsSmsNotifier
from tpm.domain.vendors import AgreementRequired
from tpm.errors import DependencyUnavailable

GUARD = RecordingGuard()

REGION = "us-east-1"
SENDER = "no-reply@clinic.example"


@pytest.fixture
def aws(aws_env: None) -> Iterator[None]:
    with mock_aws():
        yield


def test_ses_sends_plain_text_email(aws: None) -> None:
    boto3.client("sesv2", region_name=REGION).create_email_identity(EmailIdentity=SENDER)
    notifier = SesNotifier(SENDER, region=REGION)
    message_id = notifier.send_email(
        "pat@example.test", "Your appointment", "See you Tuesday", guard=GUARD
    )
    sent = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
    assert [m.id for m in sent] == [message_id]
    assert sent[0].destinations["ToAddresses"] == ["pat@example.test"]
    assert sent[0].subject == "Your appointment"
    assert sent[0].body == "See you Tuesday"


def test_ses_refusal_is_permanent_and_does_not_quote_the_address(aws: None) -> None:
    notifier = SesNotifier("unverified@clinic.example", region=REGION)
    with pytest.raises(DeliveryRejected) as caught:
        notifier.send_email("pat@example.test", "s", "t", guard=GUARD)
    assert "pat@example.test" not in str(caught.value)
    assert caught.value.details == {"provider_code": "MessageRejected"}


def test_sns_sends_a_transactional_sms(aws: None) -> None:
    notifier = SnsSmsNotifier(region=REGION, sender="+15555550100")
    message_id = notifier.send_sms("+15555550142", "Reminder: tomorrow 10:00 AM", guard=GUARD)
    sms = sns_backends[DEFAULT_ACCOUNT_ID][REGION].sms_messages
    assert sms[message_id] == ("+15555550142", "Reminder: tomorrow 10:00 AM")


def _stubbed(service: str) -> tuple[Any, Stubber]:
    client = boto3.client(service, region_name=REGION)
    return client, Stubber(client)


@pytest.mark.parametrize("code", ["Throttling", "ServiceUnavailable", "InternalFailure"])
def test_transient_sns_failures_are_retryable(aws_env: None, code: str) -> None:
    client, stub = _stubbed("sns")
    stub.add_client_error("publish", service_error_code=code, http_status_code=503)
    with stub, pytest.raises(DependencyUnavailable):
        SnsSmsNotifier(client=client).send_sms("+15555550142", "x", guard=GUARD)


def test_transient_ses_failure_is_retryable(aws_env: None) -> None:
    client, stub = _stubbed("sesv2")
    stub.add_client_error(
        "send_email", service_error_code="TooManyRequestsException", http_status_code=429
    )
    with stub, pytest.raises(DependencyUnavailable):
        SesNotifier(SENDER, client=client).send_email("a@example.test", "s", "t", guard=GUARD)


def test_ses_sends_through_the_configured_configuration_set(aws_env: None) -> None:
    # Stubber, not moto: moto's SES v2 accepts a send naming any configuration set, so only
    # the request itself shows the set (TLS required, bounces suppressed) is named.
    client, stub = _stubbed("sesv2")
    stub.add_response(
        "send_email",
        {"MessageId": "m-1"},
        {
            "FromEmailAddress": SENDER,
            "Destination": {"ToAddresses": ["a@example.test"]},
            "Content": {
                "Simple": {
                    "Subject": {"Data": "s", "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": "t", "Charset": "UTF-8"}},
                }
            },
            "ConfigurationSetName": "tpm-reminders",
        },
    )
    notifier = SesNotifier(SENDER, client=client, configuration_set="tpm-reminders")
    with stub:
        assert notifier.send_email("a@example.test", "s", "t", guard=GUARD) == "m-1"
    configured = open_notifier(
        "aws://?from=no-reply@clinic.example&configuration_set=tpm-reminders"
    )
    assert isinstance(configured, AwsNotifier)
    assert configured.email.configuration_set == "tpm-reminders"


def test_opted_out_number_is_permanent(aws_env: None) -> None:
    client, stub = _stubbed("sns")
    stub.add_client_error("publish", service_error_code="OptedOut", http_status_code=400)
    with stub, pytest.raises(DeliveryRejected):
        SnsSmsNotifier(client=client).send_sms("+15555550142", "x", guard=GUARD)


def test_notifier_is_chosen_by_url() -> None:
    assert isinstance(open_notifier("outbox://"), OutboxNotifier)
    aws_notifier = open_notifier("aws://?from=no-reply@clinic.example&sms_from=%2B15555550100")
    assert isinstance(aws_notifier, AwsNotifier)
    assert aws_notifier.email.sender == "no-reply@clinic.example"
    assert aws_notifier.sms.sender == "+15555550100"
    with pytest.raises(ValueError, match="from="):
        open_notifier("aws://")
    with pytest.raises(ValueError, match="TPM_NOTIFY"):
        open_notifier("smtp://x")


def test_outbox_keeps_what_it_was_given() -> None:
    outbox = OutboxNotifier()
    first = outbox.send_email("a@example.test", "Subject", "Body", guard=GUARD)
    outbox.send_sms("+15555550142", "Text", guard=GUARD)
    entry = outbox.sent[0]
    assert (entry.message_id, entry.channel, entry.subject) == (first, "email", "Subject")
    assert [m.channel for m in outbox.sent] == ["email", "sms"]


REFUSING = RecordingGuard(refuse=frozenset({"aws"}))


def test_ses_asks_the_register_first_and_sends_nothing_without_an_agreement(aws: None) -> None:
    boto3.client("sesv2", region_name=REGION).create_email_identity(EmailIdentity=SENDER)
    guard = RecordingGuard(refuse=frozenset({"aws"}))
    with pytest.raises(AgreementRequired) as caught:
        SesNotifier(SENDER, region=REGION).send_email("pat@example.test", "s", "t", guard=guard)
    assert guard.asked == [("aws", True)]
    assert caught.value.details == {"vendor": "aws", "reason": "agreement_expired"}
    assert ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages == []


def test_sns_asks_the_register_first_and_sends_nothing_without_an_agreement(aws: None) -> None:
    guard = RecordingGuard(refuse=frozenset({"aws"}))
    with pytest.raises(AgreementRequired):
        SnsSmsNotifier(region=REGION).send_sms("+15555550142", "Reminder", guard=guard)
    assert guard.asked == [("aws", True)]
    assert sns_backends[DEFAULT_ACCOUNT_ID][REGION].sms_messages == {}


def test_a_message_without_phi_needs_no_agreement(aws: None) -> None:
    boto3.client("sesv2", region_name=REGION).create_email_identity(EmailIdentity=SENDER)
    notifier = AwsNotifier(SesNotifier(SENDER, region=REGION), SnsSmsNotifier(region=REGION))
    notifier.send_email("officer@example.test", "s", "t", guard=REFUSING, carries_phi=False)
    assert len(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages) == 1


def test_the_outbox_asks_only_when_it_stands_in_for_a_vendor() -> None:
    quiet = RecordingGuard(refuse=frozenset({"aws"}))
    OutboxNotifier().send_email("a@example.test", "s", "t", guard=quiet)
    assert quiet.asked == []
    stand_in = open_notifier("outbox://?vendor=aws")
    assert isinstance(stand_in, OutboxNotifier)
    with pytest.raises(AgreementRequired):
        stand_in.send_sms("+15555550142", "t", guard=quiet)
    assert stand_in.sent == []


def test_ses_sends_rfc_8058_one_click_unsubscribe_headers(aws_env: None) -> None:
    # Stubber: the request itself must carry the headers (moto accepts and drops them).
    url = "https://portal.example/v1/reminders/opt-out/prx_x.token"
    client, stub = _stubbed("sesv2")
    stub.add_response(
        "send_email",
        {"MessageId": "m-2"},
        {
            "FromEmailAddress": SENDER,
            "Destination": {"ToAddresses": ["a@example.test"]},
            "Content": {
                "Simple": {
                    "Subject": {"Data": "s", "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": "t", "Charset": "UTF-8"}},
                    "Headers": [
                        {"Name": "List-Unsubscribe", "Value": f"<{url}>"},
                        {"Name": "List-Unsubscribe-Post", "Value": "List-Unsubscribe=One-Click"},
                    ],
                }
            },
        },
    )
    notifier = SesNotifier(SENDER, client=client)
    with stub:
        sent = notifier.send_email("a@example.test", "s", "t", guard=GUARD, unsubscribe_url=url)
    assert sent == "m-2"
    stub.assert_no_pending_responses()

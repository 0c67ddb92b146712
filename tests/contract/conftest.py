"""Fixtures for the contract suites: every adapter of a port, behind one fixture.

The DynamoDB table is built from template.yaml's own `Table` resource, so a change to the
deployed keys or indexes is a change to what these tests run against.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tpm.adapters.store.base import Store
from tpm.adapters.store.dynamodb import RETRY_CONFIG, DynamoStore
from tpm.adapters.store.sqlite import SqliteStore
from tpm.clock import FixedClock
from tpm.local.template import load_template

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
REGION = "us-east-1"
TABLE_NAME = "tpm-contract"
# A fixed clock shared by the store and the test, so TTL behaviour is deterministic.
START = datetime(2030, 1, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a region: nothing here may reach a real AWS account."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)


def table_properties() -> dict[str, Any]:
    properties: dict[str, Any] = load_template(TEMPLATE)["Resources"]["Table"]["Properties"]
    return properties


def create_table_from_template(client: Any, name: str) -> None:
    props = table_properties()
    client.create_table(
        TableName=name,
        KeySchema=props["KeySchema"],
        AttributeDefinitions=props["AttributeDefinitions"],
        GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"],
        BillingMode=props["BillingMode"],
    )
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        client.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def dynamo_operations() -> list[str]:
    """Names of every DynamoDB API call the store made in a test."""
    return []


@pytest.fixture(scope="session")
def dynamo_client() -> Any:
    """One client for the whole run: creating a client costs more than a moto table, and
    moto intercepts any client once its mock is active. Explicit fake credentials."""
    return boto3.client(
        "dynamodb",
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=RETRY_CONFIG,
    )


@pytest.fixture
def dynamo_store(
    aws_env: None,
    dynamo_client: Any,
    clock: FixedClock,
    dynamo_operations: list[str],
    request: pytest.FixtureRequest,
) -> Iterator[DynamoStore]:
    """A DynamoStore on a fresh moto table built from template.yaml's `Table`."""

    def record(model: Any, **_: Any) -> None:
        dynamo_operations.append(model.name)

    with mock_aws():
        create_table_from_template(dynamo_client, TABLE_NAME)
        store = DynamoStore(TABLE_NAME, client=dynamo_client, clock=clock)
        dynamo_client.meta.events.register("before-call.dynamodb", record, "contract-ops")
        try:
            yield store
        finally:
            dynamo_client.meta.events.unregister("before-call.dynamodb", record, "contract-ops")
    # The no-Scan rule, checked on every DynamoDB test rather than trusted; the one
    # exception is the whole-practice export's dump, marked where it is tested.
    if request.node.get_closest_marker("whole_practice_scan") is None:
        assert "Scan" not in dynamo_operations


@pytest.fixture
def sqlite_store(tmp_path: Path, clock: FixedClock) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "tpm.db", clock=clock)
    yield store
    store.close()


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request: pytest.FixtureRequest) -> Store:
    """Each contract test runs once per adapter."""
    fixture = {"sqlite": "sqlite_store", "dynamodb": "dynamo_store"}[request.param]
    chosen: Store = request.getfixturevalue(fixture)
    return chosen

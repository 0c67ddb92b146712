"""Both idempotency persistence layers (Powertools' DynamoDB one on moto, our store-backed
one on SQLite) behave the same under Powertools' idempotency utility."""

from __future__ import annotations

import time
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer

from tpm.adapters.idempotency import (
    IDEMPOTENCY_PK,
    StorePersistenceLayer,
    open_idempotency,
)
from tpm.adapters.store.base import Store
from tpm.adapters.store.dynamodb import DynamoStore
from tpm.clock import FixedClock

pytestmark = pytest.mark.contract
PRACTICE, OTHER = "prc_a", "prc_b"


class Remaining:
    """A Lambda context that says how long the invocation has left."""

    def __init__(self, millis: int) -> None:
        self.millis = millis

    def get_remaining_time_in_millis(self) -> int:
        return self.millis


def config(remaining_ms: int | None = None) -> IdempotencyConfig:
    cfg = IdempotencyConfig(
        event_key_jmespath="key",
        payload_validation_jmespath="request",
        raise_on_no_idempotency_key=True,
        hash_function="sha256",
    )
    if remaining_ms is not None:
        cfg.register_lambda_context(Remaining(remaining_ms))  # type: ignore[arg-type]
    return cfg


def run_once(
    layer: BasePersistenceLayer,
    calls: list[Any],
    data: dict[str, Any],
    *,
    fail: bool = False,
    remaining_ms: int | None = 60_000,
) -> Any:
    def work(data: dict[str, Any]) -> dict[str, Any]:
        calls.append(data)
        if fail:
            raise RuntimeError("the change failed")
        return {"status": 201, "n": len(calls)}

    return idempotent_function(
        work,
        data_keyword_argument="data",
        persistence_store=layer,
        config=config(remaining_ms),
        key_prefix="tpm.api",
    )(data=data)


def request(key: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"key": key, "request": {"method": "POST", "path": "/v1/x", "body": body}}


def test_the_store_picks_its_layer(store: Store, clock: FixedClock) -> None:
    layer = open_idempotency(store, PRACTICE, clock)
    if isinstance(store, DynamoStore):
        assert type(layer).__name__ == "DynamoDBPersistenceLayer"
        assert layer.static_pk_value == f"{PRACTICE}|{IDEMPOTENCY_PK}"  # type: ignore[attr-defined]
        assert layer.expiry_attr == "expires_at"  # type: ignore[attr-defined]
    else:
        assert isinstance(layer, StorePersistenceLayer)


def test_a_replay_returns_the_first_result_without_running(store: Store, clock: FixedClock) -> None:
    calls: list[Any] = []
    first = run_once(open_idempotency(store, PRACTICE, clock), calls, request("k1", {"a": 1}))
    again = run_once(open_idempotency(store, PRACTICE, clock), calls, request("k1", {"a": 1}))
    assert first == again == {"status": 201, "n": 1}
    assert len(calls) == 1


def test_the_same_key_for_another_request_is_refused(store: Store, clock: FixedClock) -> None:
    calls: list[Any] = []
    run_once(open_idempotency(store, PRACTICE, clock), calls, request("k2", {"a": 1}))
    with pytest.raises(IdempotencyValidationError):
        run_once(open_idempotency(store, PRACTICE, clock), calls, request("k2", {"a": 2}))
    assert len(calls) == 1


def test_a_failure_keeps_nothing(store: Store, clock: FixedClock) -> None:
    calls: list[Any] = []
    with pytest.raises(RuntimeError):
        run_once(open_idempotency(store, PRACTICE, clock), calls, request("k3", {}), fail=True)
    assert run_once(open_idempotency(store, PRACTICE, clock), calls, request("k3", {}))["n"] == 2


def test_records_are_per_practice(store: Store, clock: FixedClock) -> None:
    calls: list[Any] = []
    run_once(open_idempotency(store, PRACTICE, clock), calls, request("k4", {}))
    run_once(open_idempotency(store, OTHER, clock), calls, request("k4", {}))
    assert len(calls) == 2


def test_in_progress_blocks_until_its_holder_runs_out_of_time(
    store: Store, clock: FixedClock
) -> None:
    layer = open_idempotency(store, PRACTICE, clock)
    layer.configure(config(), key_prefix="tpm.api")
    data = request("k5", {})
    # GIVEN a request that started and has 200 ms left
    layer.save_inprogress(data=data, remaining_time_in_millis=200)
    # WHEN the retry comes at once THEN it is refused as in progress
    calls: list[Any] = []
    with pytest.raises(IdempotencyAlreadyInProgressError):
        run_once(open_idempotency(store, PRACTICE, clock), calls, data)
    # WHEN the holder's time is up THEN the retry runs
    time.sleep(0.3)
    assert run_once(open_idempotency(store, PRACTICE, clock), calls, data)["n"] == 1


def test_records_expire_on_the_stores_clock(sqlite_store: Store, clock: FixedClock) -> None:
    calls: list[Any] = []
    run_once(open_idempotency(sqlite_store, PRACTICE, clock), calls, request("k6", {}))
    clock.advance(hours=25)
    run_once(open_idempotency(sqlite_store, PRACTICE, clock), calls, request("k6", {}))
    assert len(calls) == 2

"""The item store on the DynamoDB single table (template.yaml `Table`).

Low-level client, created once and lazily (cold start pays only when a request needs
it), with botocore's standard retry mode for throttling. Never Scan on a request path:
every read is a GetItem or a Query on one partition of the caller's practice. The one
Scan is `dump_practice`, the whole-practice export's (an operator job; docs/decisions.md
2026-12-07).
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import boto3
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from tpm.adapters.store import codec
from tpm.adapters.store.base import (
    INDEXES,
    PARTITION_ATTRS,
    SEPARATOR,
    Absent,
    CallCounter,
    Check,
    Condition,
    ConditionFailed,
    Delete,
    Exists,
    IndexName,
    InvalidCursor,
    Item,
    Operation,
    Page,
    Put,
    StoreMisuse,
    TransactionConflict,
    check_item,
    check_key,
    check_practice_id,
    check_query,
    check_transaction,
    decode_cursor,
    encode_cursor,
)
from tpm.clock import Clock, SystemClock
from tpm.errors import DependencyUnavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# total_max_attempts counts the first try too (botocore's max_attempts counts only retries).
RETRY_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 8})
# TransactionCanceledException is not retried by botocore; throttled transactions are
# retried here with full-jitter exponential backoff, then reported as 503.
TRANSACT_ATTEMPTS = 4
TRANSACT_BACKOFF_SECONDS = 0.05

_UNAVAILABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "LimitExceededException",
    }
)
_THROTTLED_REASONS = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded"})
_NOT_EXPIRED = "(attribute_not_exists(#exp) OR #exp > :now)"

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class DynamoStore:
    vendor: str | None = "aws"  # covered by the practice's agreement with AWS

    def __init__(
        self,
        table_name: str,
        client: DynamoDBClient | None = None,
        region: str | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.table_name = table_name
        self.calls = CallCounter()
        self._client = client
        self._owns_client = client is None  # close only what we created
        self._region = region
        self._clock: Clock = clock or SystemClock()
        self._client_lock = threading.Lock()

    @property
    def client(self) -> DynamoDBClient:
        if self._client is None:
            with self._client_lock:  # boto3 client creation is not thread-safe; use is
                if self._client is None:
                    self._client = boto3.client(
                        "dynamodb", region_name=self._region, config=RETRY_CONFIG
                    )
        return self._client

    def practice(self, practice_id: str) -> DynamoPracticeStore:
        return DynamoPracticeStore(self, check_practice_id(practice_id))

    def dump_practice(self, practice_id: str) -> Iterator[Item]:
        self.calls.add("dump")
        view = self.practice(practice_id)
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "FilterExpression": f"begins_with(#pk, :prefix) AND {_NOT_EXPIRED}",
            "ExpressionAttributeNames": {"#pk": "pk", "#exp": "expires_at"},
            "ExpressionAttributeValues": {
                ":prefix": {"S": view._prefix},
                ":now": {"N": str(self._now())},
            },
            "ConsistentRead": True,
        }
        while True:
            response = _call(self.client.scan, **request)
            for raw in response.get("Items", []):
                yield view._from_dynamo(raw)
            start = response.get("LastEvaluatedKey")
            if start is None:
                return
            request["ExclusiveStartKey"] = start

    def close(self) -> None:
        if self._client is not None and self._owns_client:
            self._client.close()
            self._client = None

    def _now(self) -> int:
        return int(self._clock.now().timestamp())


class DynamoPracticeStore:
    def __init__(self, store: DynamoStore, practice_id: str) -> None:
        self.practice_id = practice_id
        self._store = store
        self._prefix = f"{practice_id}{SEPARATOR}"

    def get(self, pk: str, sk: str) -> Item | None:
        self._store.calls.add("get")
        check_key(pk, sk)
        response = _call(
            self._store.client.get_item,
            TableName=self._store.table_name,
            Key=self._key(pk, sk),
            ConsistentRead=True,
        )
        raw = response.get("Item")
        if raw is None or codec.is_expired(_expiry(raw), self._store._now()):
            return None
        return self._from_dynamo(raw)

    def put(self, item: Item, condition: Condition | None = None) -> None:
        self._store.calls.add("put")
        check_item(item)
        request: dict[str, Any] = {
            "TableName": self._store.table_name,
            "Item": self._to_dynamo(item),
        }
        request.update(self._condition(condition))
        try:
            _call(self._store.client.put_item, **request)
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise
            raise self._condition_failed(0, exc.response.get("Item")) from exc

    def delete(self, pk: str, sk: str, condition: Condition | None = None) -> None:
        self._store.calls.add("delete")
        check_key(pk, sk)
        request: dict[str, Any] = {"TableName": self._store.table_name, "Key": self._key(pk, sk)}
        request.update(self._condition(condition))
        try:
            _call(self._store.client.delete_item, **request)
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise
            raise self._condition_failed(0, exc.response.get("Item")) from exc

    def transact(self, operations: Sequence[Operation]) -> None:
        self._store.calls.add("transact")
        check_transaction(operations)
        items = [self._transact_item(op) for op in operations]
        # One token for every attempt of this commit (botocore's retries after a lost
        # response, and ours after throttling): DynamoDB applies a token's transaction at
        # most once in 10 minutes and answers a repeat with success, so a commit that
        # landed but whose answer was lost is not retried into ConditionalCheckFailed
        # (a false 409, or a second audit event from the rebuilt unit).
        token = str(uuid.uuid4())
        for attempt in range(TRANSACT_ATTEMPTS):
            try:
                _call(
                    self._store.client.transact_write_items,
                    TransactItems=items,
                    ClientRequestToken=token,
                )
                return
            except ClientError as exc:
                code = _code(exc)
                if code == "TransactionConflictException":
                    raise TransactionConflict() from exc
                if code != "TransactionCanceledException":
                    raise
                reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
                for index, reason in enumerate(exc.response.get("CancellationReasons", [])):
                    if reason.get("Code") == "ConditionalCheckFailed":
                        raise self._condition_failed(index, reason.get("Item")) from exc
                if "TransactionConflict" in reasons:
                    raise TransactionConflict() from exc
                if not _THROTTLED_REASONS.intersection(reasons):
                    raise
                if attempt + 1 == TRANSACT_ATTEMPTS:
                    raise DependencyUnavailable(dependency="store") from exc
                time.sleep(random.uniform(0, TRANSACT_BACKOFF_SECONDS * 2**attempt))  # noqa: S311

    def query(
        self,
        pk: str,
        *,
        index: IndexName | None = None,
        sk_prefix: str | None = None,
        sk_between: tuple[str, str] | None = None,
        limit: int = 25,
        cursor: str | None = None,
        descending: bool = False,
    ) -> Page:
        self._store.calls.add("query")
        check_query(pk, index, sk_prefix, sk_between, limit)
        pk_attr, sk_attr = INDEXES[index] if index else ("pk", "sk")
        stored_pk = self._prefix + pk
        key_condition = "#p = :p"
        values: dict[str, Any] = {":p": {"S": stored_pk}, ":now": {"N": str(self._store._now())}}
        if sk_prefix is not None:
            key_condition += " AND begins_with(#s, :prefix)"
            values[":prefix"] = {"S": sk_prefix}
        if sk_between is not None:
            key_condition += " AND #s BETWEEN :lo AND :hi"
            values.update({":lo": {"S": sk_between[0]}, ":hi": {"S": sk_between[1]}})
        names = {"#p": pk_attr, "#exp": "expires_at"}
        if sk_prefix is not None or sk_between is not None:
            names["#s"] = sk_attr
        request: dict[str, Any] = {
            "TableName": self._store.table_name,
            "KeyConditionExpression": key_condition,
            "FilterExpression": _NOT_EXPIRED,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": not descending,
        }
        if index:
            request["IndexName"] = index  # GSIs are eventually consistent only
        else:
            request["ConsistentRead"] = True
        start = self._start_key(cursor, stored_pk, pk_attr, sk_attr, index is not None)
        # The filter drops expired items after Limit is applied, so read until we hold one
        # item more than asked for: then next_cursor is set exactly when more items follow,
        # as on SQLite.
        raw_items: list[dict[str, Any]] = []
        while len(raw_items) <= limit:
            if start is not None:
                request["ExclusiveStartKey"] = start
            request["Limit"] = limit + 1 - len(raw_items)
            response = _call(self._store.client.query, **request)
            raw_items.extend(response.get("Items", []))
            start = response.get("LastEvaluatedKey")
            if start is None:
                break
        next_cursor = None
        if len(raw_items) > limit:
            last = raw_items[limit - 1]
            attrs = ("pk", "sk", pk_attr, sk_attr) if index else ("pk", "sk")
            next_cursor = encode_cursor({a: last[a]["S"] for a in attrs})
        return Page(
            items=[self._from_dynamo(raw) for raw in raw_items[:limit]], next_cursor=next_cursor
        )

    # -- helpers --

    def _key(self, pk: str, sk: str) -> dict[str, Any]:
        return {"pk": {"S": self._prefix + pk}, "sk": {"S": sk}}

    def _start_key(
        self, cursor: str | None, stored_pk: str, pk_attr: str, sk_attr: str, on_index: bool
    ) -> dict[str, Any] | None:
        if cursor is None:
            return None
        key = decode_cursor(cursor, stored_pk, pk_attr)
        expected = {"pk", "sk", pk_attr, sk_attr} if on_index else {"pk", "sk"}
        if set(key) != expected or not key["pk"].startswith(self._prefix):
            raise InvalidCursor()
        return {attr: {"S": value} for attr, value in key.items()}

    def _condition(self, condition: Condition | None) -> dict[str, Any]:
        """ConditionExpression for a condition; an expired item counts as absent."""
        if condition is None:
            return {}
        now = {":now": {"N": str(self._store._now())}}
        if isinstance(condition, Absent):
            expression = "attribute_not_exists(#pk) OR #exp <= :now"
            names = {"#pk": "pk", "#exp": "expires_at"}
            values: dict[str, Any] = now
        elif isinstance(condition, Exists):
            expression = f"attribute_exists(#pk) AND {_NOT_EXPIRED}"
            names = {"#pk": "pk", "#exp": "expires_at"}
            values = now
        else:
            expression = f"#v = :v AND {_NOT_EXPIRED}"
            names = {"#v": "version", "#exp": "expires_at"}
            values = {**now, ":v": {"N": str(condition.version)}}
        return {
            "ConditionExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def _transact_item(self, op: Operation) -> dict[str, Any]:
        table = {"TableName": self._store.table_name}
        if isinstance(op, Put):
            return {
                "Put": {**table, "Item": self._to_dynamo(op.item), **self._condition(op.condition)}
            }
        if isinstance(op, Delete):
            return {
                "Delete": {**table, "Key": self._key(op.pk, op.sk), **self._condition(op.condition)}
            }
        assert isinstance(op, Check)
        return {
            "ConditionCheck": {
                **table,
                "Key": self._key(op.pk, op.sk),
                **self._condition(op.condition),
            }
        }

    def _condition_failed(self, index: int, old: Any) -> ConditionFailed:
        """`old` is the item DynamoDB returned (ALL_OLD); an expired one counts as absent."""
        version = None
        if old and not codec.is_expired(_expiry(old), self._store._now()):
            value = _deserializer.deserialize(old["version"]) if "version" in old else None
            version = int(value) if isinstance(value, Decimal) else None
        return ConditionFailed(index, version)

    def _to_dynamo(self, item: Item) -> dict[str, Any]:
        stored = dict(item)
        for attr in PARTITION_ATTRS:
            if attr in stored:
                stored[attr] = self._prefix + stored[attr]
        return {k: _serializer.serialize(v) for k, v in stored.items()}

    def _from_dynamo(self, raw: dict[str, Any]) -> Item:
        item: Item = {k: _plain(_deserializer.deserialize(v)) for k, v in raw.items()}
        for attr in PARTITION_ATTRS:
            if attr in item:
                value = item[attr]
                if not isinstance(value, str) or not value.startswith(self._prefix):
                    raise StoreMisuse("item outside the practice scope")  # cannot happen
                item[attr] = value[len(self._prefix) :]
        return item


def _plain(value: Any) -> Any:
    """boto3's reading of a value -> the store's: Binary -> bytes, numbers by codec.number."""
    if isinstance(value, Decimal):
        return codec.number(value)
    if isinstance(value, Binary):
        return value.value  # type: ignore[attr-defined]  # the stub lacks .value
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _expiry(raw: dict[str, Any]) -> Decimal | None:
    number = raw.get("expires_at", {}).get("N")
    return None if number is None else Decimal(number)


def _call(operation: Any, **request: Any) -> Any:
    """One client call; throttling left after botocore's retries, or no connection, is 503."""
    try:
        return operation(**request)
    except ClientError as exc:
        if _code(exc) in _UNAVAILABLE_CODES:
            raise DependencyUnavailable(dependency="store") from exc
        raise
    except (BotoConnectionError, HTTPClientError) as exc:
        raise DependencyUnavailable(dependency="store") from exc


def _code(exc: ClientError) -> str | None:
    return exc.response.get("Error", {}).get("Code")

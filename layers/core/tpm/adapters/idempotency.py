"""Where Powertools' idempotency utility keeps its records, per practice.

In AWS: Powertools' own `DynamoDBPersistenceLayer` on the single table, in the practice's
partition `<practice>|IDEMPOTENCY` (sort key = the hashed key), with the table's TTL
attribute `expires_at`. Everywhere else (SQLite under `tpm dev`): `StorePersistenceLayer`,
the same records through the item store, so they are practice-scoped and expire the same
way. Both answer Powertools' four calls with its own semantics: a new record may replace
an expired one, or an INPROGRESS one whose holder ran out of time; otherwise the put fails
with the record that is there.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import (
    STATUS_CONSTANTS,
    DataRecord,
)

from tpm.adapters.store.base import (
    SEPARATOR,
    Absent,
    ConditionFailed,
    Item,
    PracticeStore,
    Store,
    VersionIs,
)
from tpm.clock import Clock

IDEMPOTENCY_PK = "IDEMPOTENCY"


class StorePersistenceLayer(BasePersistenceLayer):
    """Idempotency records as items of one practice's store (SQLite locally). A record's
    lifetime runs on the store's clock, like every other `expires_at` in the store."""

    def __init__(self, store: PracticeStore, clock: Clock) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.store = store
        self.clock = clock

    def _get_expiry_timestamp(self) -> int:
        return int(self.clock.now().timestamp()) + self.expires_after_seconds

    def _get_record(self, idempotency_key: str) -> DataRecord:
        item = self.store.get(IDEMPOTENCY_PK, idempotency_key)
        if item is None:
            raise IdempotencyItemNotFoundError
        return self._record(item)

    def _record(self, item: Item) -> DataRecord:
        return _ClockedRecord(_record(item), self.clock)

    def _put_record(self, data_record: DataRecord) -> None:
        item = _item(data_record, version=1)
        try:
            self.store.put(item, Absent())  # an expired record counts as absent
            return
        except ConditionFailed:
            pass
        existing = self.store.get(IDEMPOTENCY_PK, data_record.idempotency_key)
        if existing is None:  # it expired between the two calls
            self.store.put(item, Absent())
            return
        old = self._record(existing)
        held_until = old.in_progress_expiry_timestamp
        if (
            old.status == STATUS_CONSTANTS["INPROGRESS"]
            and held_until is not None
            and held_until < int(time.time() * 1000)  # its holder ran out of time
        ):
            replaced = _item(data_record, version=int(existing.get("version", 1)) + 1)
            try:
                self.store.put(replaced, VersionIs(int(existing.get("version", 1))))
                return
            except ConditionFailed:
                existing = self.store.get(IDEMPOTENCY_PK, data_record.idempotency_key)
                old = self._record(existing) if existing else old
        # As Powertools' DynamoDB layer does: the same key for another request is refused
        # here, before the caller is told the record exists.
        self._validate_payload(data_payload=data_record, stored_data_record=old)
        raise IdempotencyItemAlreadyExistsError(old_data_record=old)

    def _update_record(self, data_record: DataRecord) -> None:
        existing = self.store.get(IDEMPOTENCY_PK, data_record.idempotency_key)
        version = int(existing.get("version", 1)) + 1 if existing else 1
        self.store.put(_item(data_record, version=version))

    def _delete_record(self, data_record: DataRecord) -> None:
        self.store.delete(IDEMPOTENCY_PK, data_record.idempotency_key)


class _ClockedRecord(DataRecord):
    """Powertools asks a record whether it expired against the wall clock; ours answers
    against the store's clock (the one its `expires_at` was set by)."""

    def __init__(self, record: DataRecord, clock: Clock) -> None:
        super().__init__(
            idempotency_key=record.idempotency_key,
            status=record._status,
            expiry_timestamp=record.expiry_timestamp,
            in_progress_expiry_timestamp=record.in_progress_expiry_timestamp,
            response_data=record.response_data,
            payload_hash=record.payload_hash,
        )
        self._clock = clock

    @property
    def is_expired(self) -> bool:
        now = int(self._clock.now().timestamp())
        return bool(self.expiry_timestamp and now > self.expiry_timestamp)


def _item(record: DataRecord, *, version: int) -> Item:
    item: Item = {
        "pk": IDEMPOTENCY_PK,
        "sk": record.idempotency_key,
        "type": "idempotency",
        "status": record.status,
        "expires_at": int(record.expiry_timestamp or 0),
        "validation": record.payload_hash or "",
        "data": record.response_data or "",
        "version": version,
    }
    if record.in_progress_expiry_timestamp is not None:
        item["in_progress_expiration"] = int(record.in_progress_expiry_timestamp)
    return item


def _record(item: Item) -> DataRecord:
    in_progress = item.get("in_progress_expiration")
    return DataRecord(
        idempotency_key=str(item["sk"]),
        status=str(item["status"]),
        expiry_timestamp=int(item["expires_at"]),
        in_progress_expiry_timestamp=int(in_progress) if in_progress is not None else None,
        response_data=str(item.get("data") or ""),
        payload_hash=str(item.get("validation") or ""),
    )


# ---- choosing the layer ----------------------------------------------------------------------

_CACHE_SIZE = 64
_lock = threading.Lock()
_dynamo_layers: OrderedDict[tuple[int, str], BasePersistenceLayer] = OrderedDict()


def open_idempotency(store: Store, practice_id: str, clock: Clock) -> BasePersistenceLayer:
    """The persistence layer for one practice's idempotency records: Powertools' DynamoDB
    layer on the DynamoDB store, the store-backed one on any other."""
    from tpm.adapters.store.dynamodb import DynamoStore

    if isinstance(store, DynamoStore):
        return _dynamo_layer(store, practice_id)
    return StorePersistenceLayer(store.practice(practice_id), clock)


def _dynamo_layer(store: Any, practice_id: str) -> BasePersistenceLayer:
    # One layer per practice, reused: building one registers a user-agent hook on the
    # (shared) client, so a layer per request would pile hooks up.
    key = (id(store), practice_id)
    with _lock:
        layer = _dynamo_layers.get(key)
        if layer is None:
            from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

            layer = DynamoDBPersistenceLayer(
                table_name=store.table_name,
                key_attr="pk",
                sort_key_attr="sk",
                static_pk_value=f"{practice_id}{SEPARATOR}{IDEMPOTENCY_PK}",
                expiry_attr="expires_at",
                boto3_client=store.client,
            )
            _dynamo_layers[key] = layer
            while len(_dynamo_layers) > _CACHE_SIZE:
                _dynamo_layers.popitem(last=False)
        else:
            _dynamo_layers.move_to_end(key)
        return layer

"""The item store: a narrow interface modelled on DynamoDB and used by every service.

Every call goes through a `PracticeStore`, obtained with `store.practice(practice_id)`:
the practice id is prefixed onto every partition key (table and index) inside the
adapter, so no caller can build an unscoped key, read another practice's rows, or Scan.
Callers see their own keys only ("PATIENT#pat_…"), never the prefix.

Items are dicts of str -> str | int | Decimal | bool | None | bytes | list | dict
(no float: money is Decimal or integer cents; no set or tuple). Numbers read back the
way DynamoDB can return them on both adapters: an integral number as int, any other as
Decimal (equal in value; use `to_decimal` for money). Reserved attribute names:
  pk, sk                  table key (required on every item)
  gsi1pk, gsi1sk          index "gsi1" (optional; both or neither)
  gsi2pk, gsi2sk          index "gsi2" (optional; both or neither)
  expires_at              epoch seconds (int); once it is past, every adapter treats the item
                          as absent (reads and conditions), although DynamoDB's TTL
                          deletes it lazily
  version                 optimistic-concurrency counter (int) on mutable records; the
                          caller sets it (put version n+1 with VersionIs(n))
"""

from __future__ import annotations

import base64
import json
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, Protocol

from tpm.errors import Conflict, TpmError, ValidationFailed

Item = dict[str, Any]
IndexName = Literal["gsi1", "gsi2"]

INDEXES: dict[str, tuple[str, str]] = {"gsi1": ("gsi1pk", "gsi1sk"), "gsi2": ("gsi2pk", "gsi2sk")}
PARTITION_ATTRS = ("pk", "gsi1pk", "gsi2pk")
MAX_TRANSACTION_ITEMS = 100
MAX_PAGE = 1000
SEPARATOR = "|"  # between practice id and the caller's partition key; banned in practice ids


# ---- conditions and operations -------------------------------------------------------------


@dataclass(frozen=True)
class Absent:
    """The item must not exist yet (create)."""


@dataclass(frozen=True)
class Exists:
    """The item must exist (any version)."""


@dataclass(frozen=True)
class VersionIs:
    """The stored item must exist with this exact `version` (optimistic concurrency)."""

    version: int


Condition = Absent | Exists | VersionIs


@dataclass(frozen=True)
class Put:
    item: Item
    condition: Condition | None = None


@dataclass(frozen=True)
class Delete:
    pk: str
    sk: str
    condition: Condition | None = None


@dataclass(frozen=True)
class Check:
    """A condition on an item that the transaction does not write."""

    pk: str
    sk: str
    condition: Condition


Operation = Put | Delete | Check


@dataclass
class Page:
    items: list[Item]
    next_cursor: str | None = None


# ---- errors -------------------------------------------------------------------------------


class ConditionFailed(Conflict):
    """A condition did not hold. `index` is the failing operation's position in a
    transaction (0 for single writes); `current_version` is set when it is known."""

    code = "condition_failed"
    message = "The resource changed or already exists."

    def __init__(self, index: int = 0, current_version: int | None = None) -> None:
        super().__init__(index=index, current_version=current_version)
        self.index = index
        self.current_version = current_version


class TransactionConflict(Conflict):
    """Another transaction touched the same items at the same moment; retry the request."""

    code = "transaction_conflict"
    message = "Another change to the same records happened at the same time; retry."


class InvalidCursor(ValidationFailed):
    code = "invalid_cursor"
    message = "The pagination cursor is not valid for this query."


class StoreMisuse(TpmError):
    """A programming error: bad key, reserved prefix, oversized transaction."""

    code = "store_misuse"


# ---- the interface ------------------------------------------------------------------------


class PracticeStore(Protocol):
    """All data access for one practice."""

    practice_id: str

    def get(self, pk: str, sk: str) -> Item | None: ...

    def put(self, item: Item, condition: Condition | None = None) -> None: ...

    def delete(self, pk: str, sk: str, condition: Condition | None = None) -> None: ...

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
    ) -> Page: ...

    def transact(self, operations: Sequence[Operation]) -> None: ...


class Store(Protocol):
    calls: CallCounter
    # Who holds the records (a vendor key for the business associate register; None: this
    # machine). Services ask the register before PHI is first entered (a new patient).
    vendor: str | None

    def practice(self, practice_id: str) -> PracticeStore: ...

    def dump_practice(self, practice_id: str) -> Iterator[Item]:
        """Every live item of one practice, in no promised order, as its own keys (no
        prefix). The one whole-scope read: for `tpm practice export` and its emptiness
        check only, never a request path (on DynamoDB it is a filtered Scan)."""
        ...

    def close(self) -> None: ...


SYSTEM_PRACTICE = "_system"
"""The reserved scope for deployment-wide rows (the practice directory). Only
infrastructure code (bootstrap, key rotation, login lookup) uses it."""


# ---- shared helpers for adapters ---------------------------------------------------------


@dataclass
class CallCounter:
    """Counts store calls so tests and benchmarks can assert them per request."""

    counts: Counter[str] = field(default_factory=Counter)
    # Handlers and the scheduler share a store across threads; += on a Counter is not atomic.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, op: str, n: int = 1) -> None:
        with self._lock:
            self.counts[op] += n

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def reset(self) -> dict[str, int]:
        with self._lock:
            snapshot = dict(self.counts)
            self.counts.clear()
        return snapshot


def check_practice_id(practice_id: str) -> str:
    if not practice_id or SEPARATOR in practice_id or len(practice_id) > 64:
        raise StoreMisuse("invalid practice id")
    return practice_id


def check_item(item: Item) -> None:
    for attr in ("pk", "sk"):
        if not isinstance(item.get(attr), str) or not item[attr]:
            raise StoreMisuse(f"item needs a non-empty string {attr}")
    for pk_attr, sk_attr in INDEXES.values():
        if (pk_attr in item) != (sk_attr in item):
            raise StoreMisuse(f"{pk_attr} and {sk_attr} go together")
        for attr in (pk_attr, sk_attr):
            if attr in item and (not isinstance(item[attr], str) or not item[attr]):
                raise StoreMisuse(f"{attr} must be a non-empty string")
    for attr in ("version", "expires_at"):
        value = item.get(attr)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise StoreMisuse(f"{attr} must be an int")
    _reject_floats(item)
    _check_value(item)


def _check_value(value: Any) -> None:
    """Only types both adapters round-trip; anything else fails here, not half-way."""
    if value is None or isinstance(value, str | bool | int | bytes):
        return
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise StoreMisuse("numbers must be finite")
    elif isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise StoreMisuse("map keys must be strings")
            _check_value(v)
    elif isinstance(value, list):
        for v in value:
            _check_value(v)
    else:
        raise StoreMisuse(f"unsupported value type {type(value).__name__}")


def _reject_floats(value: Any) -> None:
    if isinstance(value, float):
        raise StoreMisuse("floats are not stored; use Decimal or integer cents")
    if isinstance(value, dict):
        for v in value.values():
            _reject_floats(v)
    elif isinstance(value, list | tuple | set):
        for v in value:
            _reject_floats(v)


def check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise StoreMisuse(f"limit must be 1..{MAX_PAGE}")


def check_key(pk: str, sk: str | None = None) -> None:
    """DynamoDB refuses empty key strings; SQLite must refuse them the same way."""
    if (
        not isinstance(pk, str)
        or not pk
        or (sk is not None and (not isinstance(sk, str) or not sk))
    ):
        raise StoreMisuse("keys must be non-empty strings")


def check_query(
    pk: str,
    index: str | None,
    sk_prefix: str | None,
    sk_between: tuple[str, str] | None,
    limit: int,
) -> None:
    """Arguments both adapters must refuse identically (DynamoDB would say ValidationException)."""
    check_key(pk)
    check_limit(limit)
    if index is not None and index not in INDEXES:
        raise StoreMisuse("unknown index")
    if sk_prefix is not None and sk_between is not None:
        raise StoreMisuse("use sk_prefix or sk_between, not both")
    if sk_prefix is not None and not sk_prefix:
        raise StoreMisuse("sk_prefix must not be empty")
    if sk_between is not None and not (sk_between[0] and sk_between[0] <= sk_between[1]):
        raise StoreMisuse("sk_between needs low <= high")


def check_transaction(operations: Sequence[Operation]) -> None:
    if not operations:
        raise StoreMisuse("empty transaction")
    if len(operations) > MAX_TRANSACTION_ITEMS:
        raise StoreMisuse(f"a transaction holds at most {MAX_TRANSACTION_ITEMS} items")
    seen: set[tuple[str, str]] = set()
    for op in operations:
        key = (op.item["pk"], op.item["sk"]) if isinstance(op, Put) else (op.pk, op.sk)
        if isinstance(op, Put):
            check_item(op.item)
        else:
            check_key(op.pk, op.sk)
        if key in seen:
            raise StoreMisuse("a transaction may touch each item once")
        seen.add(key)


def encode_cursor(last_key: dict[str, str]) -> str:
    raw = json.dumps(last_key, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, expected_pk: str, pk_attr: str) -> dict[str, str]:
    """A cursor is only good for the partition it came from; anything else is 422."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidCursor() from exc
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise InvalidCursor()
    if data.get(pk_attr) != expected_pk:
        raise InvalidCursor()
    return data


def iterate(store: PracticeStore, pk: str, **query: Any) -> Iterator[Item]:
    """Every item of a partition, page by page (for jobs and CLI, not request paths)."""
    cursor: str | None = None
    while True:
        page = store.query(pk, cursor=cursor, limit=query.pop("limit", MAX_PAGE), **query)
        yield from page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def to_decimal(value: int | str | Decimal) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(value)

"""The item store on one SQLite file: the local embedded runtime's database.

WAL + synchronous=FULL so a committed write survives a power cut; one connection per
thread (the local server runs handlers in threads) and busy_timeout so several threads
and processes can share the file. Every conditional write runs inside BEGIN IMMEDIATE,
which takes the write lock before the condition is read: check-then-write is atomic.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

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

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    gsi1pk TEXT,
    gsi1sk TEXT,
    gsi2pk TEXT,
    gsi2sk TEXT,
    expires_at INTEGER,
    version INTEGER,
    data TEXT NOT NULL,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_gsi1 ON items (gsi1pk, gsi1sk, pk, sk) WHERE gsi1pk IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_gsi2 ON items (gsi2pk, gsi2sk, pk, sk) WHERE gsi2pk IS NOT NULL;
"""
_NOT_EXPIRED = "(expires_at IS NULL OR expires_at > :now)"


class SqliteStore:
    vendor: str | None = None  # a file on this machine

    def __init__(
        self, path: str | Path, *, clock: Clock | None = None, busy_timeout_ms: int = 15_000
    ) -> None:
        self.path = Path(path)
        self.calls = CallCounter()
        self._clock: Clock = clock or SystemClock()
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # The file holds PHI: owner-only from the moment it exists (SQLite copies the mode
        # onto its -wal and -shm files).
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        conn = self._connection()
        with _translate_errors():
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)

    def practice(self, practice_id: str) -> SqlitePracticeStore:
        return SqlitePracticeStore(self, check_practice_id(practice_id))

    def dump_practice(self, practice_id: str) -> Iterator[Item]:
        self.calls.add("dump")
        prefix = f"{check_practice_id(practice_id)}{SEPARATOR}"
        # Every stored pk of the practice sorts in [prefix, prefix-with-"|"-bumped).
        upper = prefix[:-1] + chr(ord(SEPARATOR) + 1)
        conn = self._connection()
        with _translate_errors():
            cursor = conn.execute(
                f"SELECT data FROM items WHERE pk >= :lo AND pk < :hi AND {_NOT_EXPIRED}"  # noqa: S608
                " ORDER BY pk, sk",
                {"lo": prefix, "hi": upper, "now": self._now()},
            )
            while rows := cursor.fetchmany(500):
                for row in rows:
                    yield codec.loads(row[0])

    def close(self) -> None:
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()

    # -- internals shared with the practice views --

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and not self._closed:
            return conn
        with self._lock:
            if self._closed:
                raise StoreMisuse("store is closed")
            # isolation_level=None: we issue BEGIN IMMEDIATE ourselves. check_same_thread
            # is off only so close() can close every thread's connection.
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout_ms / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
            conn.execute("PRAGMA synchronous=FULL")
            self._connections.append(conn)
        self._local.conn = conn
        return conn

    def _now(self) -> int:
        return int(self._clock.now().timestamp())

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._connection()
        with _translate_errors():
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                # Whatever failed — a condition, our code, or the COMMIT itself (disk full,
                # I/O error) — the connection must not stay inside the transaction: every
                # later write on this thread would fail with "transaction within a
                # transaction" (a failed COMMIT leaves the transaction open).
                if conn.in_transaction:
                    with suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise


class SqlitePracticeStore:
    def __init__(self, store: SqliteStore, practice_id: str) -> None:
        self.practice_id = practice_id
        self._store = store
        self._prefix = f"{practice_id}{SEPARATOR}"

    def get(self, pk: str, sk: str) -> Item | None:
        self._store.calls.add("get")
        check_key(pk, sk)
        conn = self._store._connection()
        with _translate_errors():
            row = conn.execute(
                "SELECT data FROM items WHERE pk = :pk AND sk = :sk"
                " AND (expires_at IS NULL OR expires_at > :now)",
                {"pk": self._prefix + pk, "sk": sk, "now": self._store._now()},
            ).fetchone()
        return None if row is None else codec.loads(row[0])

    def put(self, item: Item, condition: Condition | None = None) -> None:
        self._store.calls.add("put")
        check_item(item)
        with self._store._write() as conn:
            if condition is not None:
                self._check(conn, 0, item["pk"], item["sk"], condition)
            self._upsert(conn, item)

    def delete(self, pk: str, sk: str, condition: Condition | None = None) -> None:
        self._store.calls.add("delete")
        check_key(pk, sk)
        with self._store._write() as conn:
            if condition is not None:
                self._check(conn, 0, pk, sk, condition)
            self._remove(conn, pk, sk)

    def transact(self, operations: Sequence[Operation]) -> None:
        self._store.calls.add("transact")
        check_transaction(operations)
        with self._store._write() as conn:
            # Every condition first (keys are distinct, so order cannot matter), then the
            # writes: a failure leaves nothing behind even before the ROLLBACK.
            for index, op in enumerate(operations):
                if op.condition is None:
                    continue
                pk, sk = (op.item["pk"], op.item["sk"]) if isinstance(op, Put) else (op.pk, op.sk)
                self._check(conn, index, pk, sk, op.condition)
            for op in operations:
                if isinstance(op, Put):
                    self._upsert(conn, op.item)
                elif isinstance(op, Delete):
                    self._remove(conn, op.pk, op.sk)
                else:
                    assert isinstance(op, Check)

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
        pk_col, sk_col = INDEXES[index] if index else ("pk", "sk")
        stored_pk = self._prefix + pk
        where = [f"{pk_col} = :pk", _NOT_EXPIRED]
        params: dict[str, Any] = {"pk": stored_pk, "now": self._store._now(), "n": limit + 1}
        if sk_prefix is not None:
            where.append(f"substr({sk_col}, 1, :plen) = :prefix AND {sk_col} >= :prefix")
            params.update(prefix=sk_prefix, plen=len(sk_prefix))
        if sk_between is not None:
            where.append(f"{sk_col} BETWEEN :lo AND :hi")
            params.update(lo=sk_between[0], hi=sk_between[1])
        # Index queries order ties on the index key by the table key, as the cursor does.
        order_cols = [sk_col, "pk", "sk"] if index else ["sk"]
        if cursor is not None:
            start = self._start_key(cursor, stored_pk, pk_col, sk_col, index is not None)
            op = "<" if descending else ">"
            cols = ", ".join(order_cols)
            marks = ", ".join(f":c{i}" for i in range(len(order_cols)))
            where.append(f"({cols}) {op} ({marks})")
            params.update({f"c{i}": start[c] for i, c in enumerate(order_cols)})
        direction = "DESC" if descending else "ASC"
        order = ", ".join(f"{c} {direction}" for c in order_cols)
        sql = (
            f"SELECT pk, sk, {pk_col}, {sk_col}, data FROM items"  # noqa: S608 - names are ours
            f" WHERE {' AND '.join(where)} ORDER BY {order} LIMIT :n"
        )
        conn = self._store._connection()
        with _translate_errors():
            rows = conn.execute(sql, params).fetchall()
        items = [codec.loads(row[4]) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            key = {"pk": last[0], "sk": last[1]}
            if index:
                key.update({pk_col: last[2], sk_col: last[3]})
            next_cursor = encode_cursor(key)
        return Page(items=items, next_cursor=next_cursor)

    # -- helpers --

    def _start_key(
        self, cursor: str, stored_pk: str, pk_col: str, sk_col: str, on_index: bool
    ) -> dict[str, str]:
        key = decode_cursor(cursor, stored_pk, pk_col)
        expected = {"pk", "sk", pk_col, sk_col} if on_index else {"pk", "sk"}
        if set(key) != expected or not key["pk"].startswith(self._prefix):
            raise InvalidCursor()
        return key

    def _check(
        self, conn: sqlite3.Connection, index: int, pk: str, sk: str, condition: Condition
    ) -> None:
        row = conn.execute(
            "SELECT version, expires_at FROM items WHERE pk = ? AND sk = ?",
            (self._prefix + pk, sk),
        ).fetchone()
        visible = row is not None and not codec.is_expired(row[1], self._store._now())
        version: int | None = row[0] if visible else None
        if isinstance(condition, Absent):
            holds = not visible
        elif isinstance(condition, Exists):
            holds = visible
        else:
            holds = visible and version == condition.version
        if not holds:
            raise ConditionFailed(index, version)

    def _upsert(self, conn: sqlite3.Connection, item: Item) -> None:
        stored: dict[str, Any] = {
            attr: (self._prefix + item[attr] if attr in PARTITION_ATTRS else item[attr])
            for attr in ("pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk")
            if attr in item
        }
        row: dict[str, Any] = {"gsi1pk": None, "gsi1sk": None, "gsi2pk": None, "gsi2sk": None}
        row.update(stored)
        row.update(
            expires_at=item.get("expires_at"), version=item.get("version"), data=codec.dumps(item)
        )
        conn.execute(
            "INSERT OR REPLACE INTO items"
            " (pk, sk, gsi1pk, gsi1sk, gsi2pk, gsi2sk, expires_at, version, data) VALUES"
            " (:pk, :sk, :gsi1pk, :gsi1sk, :gsi2pk, :gsi2sk, :expires_at, :version, :data)",
            row,
        )

    def _remove(self, conn: sqlite3.Connection, pk: str, sk: str) -> None:
        conn.execute("DELETE FROM items WHERE pk = ? AND sk = ?", (self._prefix + pk, sk))


# SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN (primary codes)
_UNAVAILABLE = {5, 6, 10, 13, 14}


@contextmanager
def _translate_errors() -> Iterator[None]:
    """A locked or unwritable database is an unavailable dependency (503, retryable);
    anything else (a bad statement) is a bug and stays loud."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if getattr(exc, "sqlite_errorcode", 0) & 0xFF in _UNAVAILABLE:
            raise DependencyUnavailable(dependency="store") from exc
        raise

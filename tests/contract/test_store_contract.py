"""One behaviour for the item store, whichever adapter runs it (SQLite file or DynamoDB).

Every test in the first part runs twice through the `store` fixture; the DynamoDB-only
part at the end injects the failures moto cannot produce (throttling, conflicts).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from tpm.adapters.store import open_store, sqlite_path
from tpm.adapters.store.base import (
    MAX_TRANSACTION_ITEMS,
    Absent,
    Check,
    ConditionFailed,
    Delete,
    Exists,
    InvalidCursor,
    Item,
    Put,
    Store,
    StoreMisuse,
    TransactionConflict,
    VersionIs,
    iterate,
)
from tpm.adapters.store.dynamodb import TRANSACT_ATTEMPTS, DynamoStore
from tpm.adapters.store.sqlite import SqliteStore
from tpm.clock import FixedClock
from tpm.errors import DependencyUnavailable

pytestmark = pytest.mark.contract

A, B = "prac_a", "prac_b"


def keys(items: list[Item]) -> list[tuple[str, str]]:
    return [(i["pk"], i["sk"]) for i in items]


def all_pages(query: Callable[[str | None], Any]) -> list[list[Item]]:
    pages, cursor = [], None
    while True:
        page = query(cursor)
        pages.append(page.items)
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


# ---- values ------------------------------------------------------------------------------


def test_every_value_type_round_trips(store: Store) -> None:
    item = {
        "pk": "PATIENT#pat_1",
        "sk": "PROFILE",
        "text": "Zoë — 日本",
        "empty": "",
        "count": 7,
        "negative": -3,
        "big": 10**30,
        "fee": Decimal("150.25"),
        "tiny": Decimal("0.0001"),
        "blob": b"\x00\xffbinary",
        "no_bytes": b"",
        "yes": True,
        "no": False,
        "nothing": None,
        "nested": {"list": [1, Decimal("2.5"), "x", [b"y", {"z": None}]], "empty": {}},
        "looks_like_a_tag": {"$d": "not a decimal"},
        "version": 1,
    }
    practice = store.practice(A)
    practice.put(item)

    got = practice.get("PATIENT#pat_1", "PROFILE")

    assert got == item
    assert type(got["count"]) is int
    assert type(got["big"]) is int
    assert type(got["fee"]) is Decimal
    assert type(got["yes"]) is bool
    assert type(got["blob"]) is bytes
    assert got["blob"] == b"\x00\xffbinary"
    assert got["looks_like_a_tag"] == {"$d": "not a decimal"}


def test_integral_numbers_read_back_as_int_on_every_adapter(store: Store) -> None:
    # DynamoDB has one number type; both adapters read it the same way.
    practice = store.practice(A)
    practice.put({"pk": "P", "sk": "S", "amount": Decimal("150.00"), "cents": Decimal("15000")})

    got = practice.get("P", "S")

    assert got is not None
    assert got["amount"] == 150
    assert type(got["amount"]) is int
    assert got["cents"] == 15000
    assert type(got["cents"]) is int


@pytest.mark.parametrize(
    "bad",
    [
        {"pk": "P", "sk": "S", "amount": 1.5},
        {"pk": "P", "sk": "S", "nested": {"deep": [0.1]}},
        {"pk": "P", "sk": "S", "tags": {"a", "b"}},
        {"pk": "P", "sk": "S", "pair": (1, 2)},
        {"pk": "P", "sk": "S", "nan": Decimal("NaN")},
        {"pk": "P", "sk": ""},
        {"pk": "P", "sk": "S", "gsi1pk": "X"},
        {"pk": "P", "sk": "S", "gsi1pk": "", "gsi1sk": "Y"},
        {"pk": "P", "sk": "S", "version": "2"},
        {"pk": "P", "sk": "S", "expires_at": Decimal("1.5")},
    ],
)
def test_unstorable_items_are_rejected_and_nothing_is_written(store: Store, bad: Item) -> None:
    practice = store.practice(A)
    with pytest.raises(StoreMisuse):
        practice.put(bad)
    assert practice.get("P", "S") is None


def test_put_replaces_the_whole_item_and_delete_removes_it(store: Store) -> None:
    practice = store.practice(A)
    practice.put({"pk": "P", "sk": "S", "a": 1, "b": 2})
    practice.put({"pk": "P", "sk": "S", "a": 3})
    assert practice.get("P", "S") == {"pk": "P", "sk": "S", "a": 3}

    practice.delete("P", "S")
    practice.delete("P", "S")  # deleting what is gone is not an error

    assert practice.get("P", "S") is None


# ---- conditions --------------------------------------------------------------------------


def test_absent_creates_once_and_reports_the_current_version(store: Store) -> None:
    practice = store.practice(A)
    practice.put({"pk": "P", "sk": "S", "version": 4, "v": "first"}, Absent())

    with pytest.raises(ConditionFailed) as failed:
        practice.put({"pk": "P", "sk": "S", "version": 1, "v": "second"}, Absent())

    assert (failed.value.index, failed.value.current_version) == (0, 4)
    assert failed.value.details == {"index": 0, "current_version": 4}
    assert practice.get("P", "S") == {"pk": "P", "sk": "S", "version": 4, "v": "first"}


def test_exists_fails_on_a_missing_item_without_creating_it(store: Store) -> None:
    practice = store.practice(A)
    with pytest.raises(ConditionFailed) as failed:
        practice.put({"pk": "P", "sk": "S"}, Exists())
    assert failed.value.current_version is None
    assert practice.get("P", "S") is None

    practice.put({"pk": "P", "sk": "S", "n": 1})
    practice.put({"pk": "P", "sk": "S", "n": 2}, Exists())
    assert practice.get("P", "S") == {"pk": "P", "sk": "S", "n": 2}


def test_version_is_detects_a_lost_update(store: Store) -> None:
    practice = store.practice(A)
    practice.put({"pk": "P", "sk": "S", "version": 1, "note": "v1"}, Absent())
    practice.put({"pk": "P", "sk": "S", "version": 2, "note": "v2"}, VersionIs(1))

    # GIVEN a writer that loaded version 1 WHEN it writes THEN it learns the version is 2
    with pytest.raises(ConditionFailed) as stale:
        practice.put({"pk": "P", "sk": "S", "version": 2, "note": "stale"}, VersionIs(1))
    assert stale.value.current_version == 2
    assert practice.get("P", "S") == {"pk": "P", "sk": "S", "version": 2, "note": "v2"}

    with pytest.raises(ConditionFailed) as missing:
        practice.put({"pk": "Q", "sk": "S", "version": 2}, VersionIs(1))
    assert missing.value.current_version is None


def test_conditional_delete(store: Store) -> None:
    practice = store.practice(A)
    practice.put({"pk": "P", "sk": "S", "version": 3})

    with pytest.raises(ConditionFailed) as failed:
        practice.delete("P", "S", VersionIs(2))
    assert failed.value.current_version == 3
    assert practice.get("P", "S") is not None

    with pytest.raises(ConditionFailed):
        practice.delete("P", "missing", Exists())
    practice.delete("P", "S", VersionIs(3))
    assert practice.get("P", "S") is None


# ---- transactions ------------------------------------------------------------------------


def test_transaction_writes_all_or_nothing_and_names_the_failing_operation(store: Store) -> None:
    practice = store.practice(A)
    practice.put({"pk": "P", "sk": "existing", "version": 5})
    practice.put({"pk": "P", "sk": "doomed", "version": 1})
    operations = [
        Put({"pk": "P", "sk": "new1", "version": 1}, Absent()),
        Delete("P", "doomed"),
        Put({"pk": "P", "sk": "new2"}),
        Put({"pk": "P", "sk": "existing", "version": 6}, VersionIs(4)),
    ]

    with pytest.raises(ConditionFailed) as failed:
        practice.transact(operations)

    assert (failed.value.index, failed.value.current_version) == (3, 5)
    assert practice.get("P", "new1") is None
    assert practice.get("P", "new2") is None
    assert practice.get("P", "doomed") == {"pk": "P", "sk": "doomed", "version": 1}
    assert practice.get("P", "existing") == {"pk": "P", "sk": "existing", "version": 5}


def test_transaction_commits_puts_deletes_and_checks(store: Store) -> None:
    practice = store.practice(A)
    practice.put({"pk": "P", "sk": "guard", "version": 2})
    practice.put({"pk": "P", "sk": "old"})

    practice.transact(
        [
            Check("P", "guard", VersionIs(2)),
            Put({"pk": "P", "sk": "new", "version": 1}, Absent()),
            Delete("P", "old", Exists()),
        ]
    )

    assert practice.get("P", "new") == {"pk": "P", "sk": "new", "version": 1}
    assert practice.get("P", "old") is None
    assert practice.get("P", "guard") == {"pk": "P", "sk": "guard", "version": 2}


def test_a_failing_check_cancels_the_transaction(store: Store) -> None:
    practice = store.practice(A)
    with pytest.raises(ConditionFailed) as failed:
        practice.transact([Put({"pk": "P", "sk": "x"}), Check("P", "guard", Exists())])
    assert (failed.value.index, failed.value.current_version) == (1, None)
    assert practice.get("P", "x") is None


def test_transaction_size_limit(store: Store) -> None:
    practice = store.practice(A)
    too_many = [Put({"pk": "P", "sk": f"{i:03}"}) for i in range(MAX_TRANSACTION_ITEMS + 1)]
    with pytest.raises(StoreMisuse):
        practice.transact(too_many)
    assert practice.query("P").items == []

    practice.transact(too_many[:MAX_TRANSACTION_ITEMS])
    assert len(list(iterate(practice, "P"))) == MAX_TRANSACTION_ITEMS


@pytest.mark.parametrize(
    "operations",
    [
        [],
        [Put({"pk": "P", "sk": "S"}), Delete("P", "S")],
        [Put({"pk": "P", "sk": "S"}), Check("P", "S", Exists())],
    ],
    ids=["empty", "put-and-delete-same-key", "put-and-check-same-key"],
)
def test_malformed_transactions_are_refused(store: Store, operations: list[Any]) -> None:
    practice = store.practice(A)
    with pytest.raises(StoreMisuse):
        practice.transact(operations)
    assert practice.get("P", "S") is None


# ---- queries -----------------------------------------------------------------------------


def put_many(store: Store, practice_id: str, pk: str, count: int, **extra: Any) -> list[str]:
    practice = store.practice(practice_id)
    sks = [f"ITEM#{i:03}" for i in range(count)]
    for start in range(0, count, 25):
        practice.transact([Put({"pk": pk, "sk": sk, **extra}) for sk in sks[start : start + 25]])
    return sks


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("count", [23, 20, 0])
def test_pagination_has_no_gaps_or_duplicates(store: Store, count: int, descending: bool) -> None:
    sks = put_many(store, A, "LIST", count)
    put_many(store, A, "OTHER", 3)
    practice = store.practice(A)

    pages = all_pages(lambda c: practice.query("LIST", limit=5, cursor=c, descending=descending))

    sizes = [5] * (count // 5) + ([count % 5] if count % 5 else [])
    assert [len(p) for p in pages] == (sizes or [0])  # no trailing empty page
    assert [i["sk"] for p in pages for i in p] == (sks[::-1] if descending else sks)


def test_sk_prefix_and_sk_between(store: Store) -> None:
    practice = store.practice(A)
    for sk in ["APPT#2030-01-01", "APPT#2030-01-15", "APPT#2030-02-01", "APPU", "NOTE#1", "APP"]:
        practice.put({"pk": "P", "sk": sk})

    prefixed = practice.query("P", sk_prefix="APPT#")
    between = practice.query("P", sk_between=("APPT#2030-01-15", "APPT#2030-02-01"))
    newest = practice.query("P", sk_prefix="APPT#", descending=True, limit=1)

    assert [i["sk"] for i in prefixed.items] == [
        "APPT#2030-01-01",
        "APPT#2030-01-15",
        "APPT#2030-02-01",
    ]
    assert [i["sk"] for i in between.items] == ["APPT#2030-01-15", "APPT#2030-02-01"]
    assert [i["sk"] for i in newest.items] == ["APPT#2030-02-01"]
    assert newest.next_cursor is not None
    rest = practice.query("P", sk_prefix="APPT#", descending=True, cursor=newest.next_cursor)
    assert [i["sk"] for i in rest.items] == ["APPT#2030-01-15", "APPT#2030-01-01"]
    assert rest.next_cursor is None


@pytest.mark.parametrize(
    ("index", "attrs"), [("gsi1", ("gsi1pk", "gsi1sk")), ("gsi2", ("gsi2pk", "gsi2sk"))]
)
def test_index_queries_order_ties_by_table_key_and_paginate(
    store: Store, index: Any, attrs: tuple[str, str]
) -> None:
    practice = store.practice(A)
    idx_pk, idx_sk = attrs
    rows = [
        ("PATIENT#2", "APPT#b", "2030-01-02"),
        ("PATIENT#1", "APPT#a", "2030-01-02"),
        ("PATIENT#1", "APPT#c", "2030-01-01"),
        ("PATIENT#3", "APPT#d", "2030-01-03"),
    ]
    for pk, sk, when in rows:
        practice.put({"pk": pk, "sk": sk, idx_pk: "CLINICIAN#c1", idx_sk: when})
    practice.put({"pk": "PATIENT#9", "sk": "APPT#z", idx_pk: "CLINICIAN#c2", idx_sk: "2030-01-01"})
    practice.put({"pk": "PATIENT#8", "sk": "NO-INDEX"})
    expected = [
        ("PATIENT#1", "APPT#c"),
        ("PATIENT#1", "APPT#a"),
        ("PATIENT#2", "APPT#b"),
        ("PATIENT#3", "APPT#d"),
    ]

    pages = all_pages(lambda c: practice.query("CLINICIAN#c1", index=index, limit=1, cursor=c))
    window = practice.query(
        "CLINICIAN#c1", index=index, sk_between=("2030-01-02", "2030-01-03"), descending=True
    )

    assert [keys(p) for p in pages] == [[k] for k in expected]
    assert pages[0][0][idx_pk] == "CLINICIAN#c1"  # the caller sees its own key back
    assert keys(window.items) == expected[::-1][:3]


@pytest.mark.parametrize(
    "bad_query",
    [
        {"limit": 0},
        {"limit": 1001},
        {"sk_prefix": "A", "sk_between": ("A", "B")},
        {"sk_prefix": ""},
        {"sk_between": ("B", "A")},
        {"index": "gsi3"},
    ],
)
def test_bad_query_arguments_are_refused_alike(store: Store, bad_query: dict[str, Any]) -> None:
    with pytest.raises(StoreMisuse):
        store.practice(A).query("P", **bad_query)


def test_empty_keys_are_refused_alike(store: Store) -> None:
    practice = store.practice(A)
    for call in (
        lambda: practice.get("P", ""),
        lambda: practice.get("", "S"),
        lambda: practice.delete("P", ""),
        lambda: practice.query(""),
        lambda: practice.transact([Check("P", "", Exists())]),
    ):
        with pytest.raises(StoreMisuse):
            call()


def test_foreign_and_forged_cursors_are_rejected(store: Store) -> None:
    put_many(store, A, "LIST", 3)
    put_many(store, A, "LIST2", 3)
    practice = store.practice(A)
    cursor = practice.query("LIST", limit=1).next_cursor
    assert cursor is not None

    for bad in ["not-base64!!", "e30", "", cursor + "x"]:
        with pytest.raises(InvalidCursor):
            practice.query("LIST", cursor=bad or "A")
    with pytest.raises(InvalidCursor):
        practice.query("LIST2", cursor=cursor)  # another partition
    with pytest.raises(InvalidCursor):
        practice.query("LIST", index="gsi1", cursor=cursor)  # a table cursor on an index
    with pytest.raises(InvalidCursor):
        store.practice(B).query("LIST", cursor=cursor)  # another practice, same keys


# ---- practice isolation ------------------------------------------------------------------


def test_practices_never_see_each_others_items(store: Store) -> None:
    a, b = store.practice(A), store.practice(B)
    for practice, who in ((a, "a"), (b, "b")):
        practice.put(
            {"pk": "PATIENT#1", "sk": "PROFILE", "who": who, "gsi1pk": "ALL", "gsi1sk": "1"}
        )

    b.delete("PATIENT#1", "PROFILE")

    got = a.get("PATIENT#1", "PROFILE")
    assert got is not None
    assert got["who"] == "a"
    assert got["pk"] == "PATIENT#1"
    assert b.get("PATIENT#1", "PROFILE") is None
    assert b.query("PATIENT#1").items == []
    assert b.query("ALL", index="gsi1").items == []
    assert [i["who"] for i in a.query("ALL", index="gsi1").items] == ["a"]
    b.put({"pk": "PATIENT#1", "sk": "PROFILE", "who": "b"}, Absent())  # a's row is not b's


def test_practice_ids_are_validated(store: Store) -> None:
    for bad in ("", "a|b", "x" * 65):
        with pytest.raises(StoreMisuse):
            store.practice(bad)


# ---- the whole-practice dump (export only) -------------------------------------------------


@pytest.mark.whole_practice_scan
def test_dump_practice_is_every_live_item_of_that_practice_and_no_other(
    store: Store, clock: FixedClock
) -> None:
    now = int(clock.now().timestamp())
    mine = store.practice(A)
    mine.transact(
        [
            Put({"pk": f"P#{i % 7}", "sk": f"{i:05}", "gsi1pk": "IX", "gsi1sk": f"{i:05}"})
            for i in range(40)
        ]
    )
    mine.put({"pk": "P#0", "sk": "gone", "expires_at": now - 1})
    mine.put({"pk": "P#0", "sk": "bytes", "blob": b"\x00\x01", "money": Decimal("1.50")})
    # A practice whose id extends A's, and the system scope: neither may leak in.
    store.practice(A + "x").put({"pk": "P#0", "sk": "other"})
    store.practice("_system").put({"pk": "PRACTICE", "sk": A, "practice_id": A})

    dumped = list(store.dump_practice(A))

    assert len(dumped) == 41
    assert len({(i["pk"], i["sk"]) for i in dumped}) == 41
    assert {"pk": "P#0", "sk": "bytes", "blob": b"\x00\x01", "money": Decimal("1.50")} in dumped
    assert {"pk": "P#1", "sk": "00001", "gsi1pk": "IX", "gsi1sk": "00001"} in dumped
    assert list(store.dump_practice("prac_none")) == []


# ---- TTL ---------------------------------------------------------------------------------


def test_expired_items_are_invisible_to_reads_and_conditions(
    store: Store, clock: FixedClock
) -> None:
    practice = store.practice(A)
    now = int(clock.now().timestamp())
    practice.put({"pk": "P", "sk": "gone", "expires_at": now - 1, "version": 1})
    practice.put({"pk": "P", "sk": "soon", "expires_at": now + 60, "version": 1})

    assert practice.get("P", "gone") is None
    assert [i["sk"] for i in practice.query("P").items] == ["soon"]
    with pytest.raises(ConditionFailed) as failed:
        practice.put({"pk": "P", "sk": "gone", "version": 2}, VersionIs(1))
    assert failed.value.current_version is None
    practice.put({"pk": "P", "sk": "gone", "version": 1}, Absent())  # expired = absent
    assert practice.get("P", "gone") == {"pk": "P", "sk": "gone", "version": 1}

    clock.advance(seconds=60)

    assert practice.get("P", "soon") is None
    with pytest.raises(ConditionFailed):
        practice.delete("P", "soon", Exists())


def test_pages_stay_full_when_expired_items_are_interleaved(
    store: Store, clock: FixedClock
) -> None:
    practice = store.practice(A)
    now = int(clock.now().timestamp())
    for i in range(30):
        expires = now - 10 if i % 3 else now + 1000  # two in three are expired
        practice.put({"pk": "P", "sk": f"{i:02}", "expires_at": expires})

    pages = all_pages(lambda c: practice.query("P", limit=4, cursor=c))

    assert [len(p) for p in pages] == [4, 4, 2]
    assert [i["sk"] for p in pages for i in p] == [f"{i:02}" for i in range(0, 30, 3)]


# ---- call counting -----------------------------------------------------------------------


def test_calls_are_counted_per_operation(store: Store) -> None:
    store.calls.reset()
    practice = store.practice(A)
    practice.put({"pk": "P", "sk": "S"})
    practice.get("P", "S")
    practice.get("P", "missing")
    practice.query("P")
    practice.transact([Put({"pk": "P", "sk": "T"})])
    practice.delete("P", "T")
    with pytest.raises(ConditionFailed):
        practice.put({"pk": "P", "sk": "S"}, Absent())

    assert store.calls.total == 7
    assert store.calls.reset() == {"put": 2, "get": 2, "query": 1, "transact": 1, "delete": 1}
    assert store.calls.total == 0


# ---- concurrency -------------------------------------------------------------------------


def race(writers: list[Callable[[], None]]) -> tuple[int, int]:
    """Run the writers at the same instant; return (wins, condition failures)."""
    barrier = threading.Barrier(len(writers))
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(write: Callable[[], None]) -> None:
        barrier.wait()
        try:
            write()
            outcome = "won"
        except ConditionFailed:
            outcome = "lost"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(w,)) for w in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(outcomes) == len(writers)
    return outcomes.count("won"), outcomes.count("lost")


def test_concurrent_creates_of_one_key_have_exactly_one_winner(store: Store) -> None:
    practice = store.practice(A)

    def writer(n: int) -> Callable[[], None]:
        return lambda: practice.put({"pk": "P", "sk": "S", "by": n, "version": 1}, Absent())

    assert race([writer(n) for n in range(8)]) == (1, 7)
    assert practice.get("P", "S") is not None


def test_two_sqlite_stores_on_one_file_share_rows_and_locks(tmp_path: Path) -> None:
    # Two instances stand in for two processes (tpm dev plus a CLI) on the same file.
    first, second = SqliteStore(tmp_path / "t.db"), SqliteStore(tmp_path / "t.db")
    try:
        stores = [first, second] * 4

        def writer(s: SqliteStore) -> Callable[[], None]:
            return lambda: s.practice(A).put({"pk": "P", "sk": "S"}, Absent())

        assert race([writer(s) for s in stores]) == (1, 7)
        assert first.practice(A).get("P", "S") == second.practice(A).get("P", "S")
    finally:
        first.close()
        second.close()


_CHILD = """
import sys
from tpm.adapters.store.base import Absent, ConditionFailed
from tpm.adapters.store.sqlite import SqliteStore

practice = SqliteStore(sys.argv[1]).practice("prac_a")
print("ready", flush=True)
sys.stdin.readline()  # the starting gun: all processes race from the same moment
wins = 0
for i in range(200):
    try:
        practice.put({"pk": "P", "sk": f"K{i:03}", "by": sys.argv[2]}, Absent())
        wins += 1
    except ConditionFailed:
        pass
print(wins)
"""


def test_processes_sharing_a_sqlite_file_create_each_key_once(tmp_path: Path) -> None:
    # GIVEN three processes (tpm dev, a CLI, a test) opening the same new file at once
    db = tmp_path / "shared.db"
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(db), str(n)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(3)
    ]
    for child in children:
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n"
    # WHEN each tries to create the same 200 keys THEN every key has exactly one creator
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.close()
    wins = [int(child.stdout.read()) for child in children if child.stdout is not None]
    for child in children:
        child.wait(timeout=60)
    assert [child.returncode for child in children] == [0, 0, 0]
    assert sum(wins) == 200
    store = SqliteStore(db)
    try:
        assert len(list(iterate(store.practice(A), "P"))) == 200
    finally:
        store.close()


def test_sqlite_file_is_private_and_in_wal_mode(tmp_path: Path) -> None:
    s = SqliteStore(tmp_path / "sub" / "t.db")
    try:
        s.practice(A).put({"pk": "P", "sk": "S"})
        assert (tmp_path / "sub" / "t.db").stat().st_mode & 0o777 == 0o600
        conn = s._connection()
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("SELECT pk FROM items").fetchall() == [("prac_a|P",)]
    finally:
        s.close()
    with pytest.raises(StoreMisuse):
        s.practice(A).get("P", "S")  # from a thread with no connection yet: closed is closed


# ---- opening by URL ----------------------------------------------------------------------


def test_open_store_by_url(tmp_path: Path) -> None:
    opened = open_store(f"sqlite:///{tmp_path}/u.db")
    try:
        assert isinstance(opened, SqliteStore)
        assert opened.path == tmp_path / "u.db"
    finally:
        opened.close()
    assert sqlite_path("sqlite:///abs/t.db") == "/abs/t.db"
    assert sqlite_path("sqlite:///.tpm/tpm.db") == ".tpm/tpm.db"
    dynamo = open_store("dynamodb://TpmTable", region="eu-west-1")
    assert isinstance(dynamo, DynamoStore)
    assert dynamo.table_name == "TpmTable"
    for bad in ("postgres://x", "sqlite:///", "dynamodb://"):
        with pytest.raises(StoreMisuse):
            open_store(bad)


# ---- DynamoDB only: request shapes and injected failures -----------------------------------


@pytest.fixture
def stubbed(aws_env: None) -> tuple[DynamoStore, Stubber]:
    client = boto3.client("dynamodb", region_name="us-east-1")
    return DynamoStore("T", client=client), Stubber(client)


def test_dynamo_client_retries_throttling_in_standard_mode(aws_env: None) -> None:
    retries = DynamoStore("T", region="us-east-1").client.meta.config.retries
    assert retries == {"mode": "standard", "total_max_attempts": 8}


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def test_dynamo_throttling_is_retried_then_reported_unavailable(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN DynamoDB answers every request with a throttling error (the real HTTP shape,
    # so botocore's own retry logic runs)
    store = DynamoStore("T", region="us-east-1")
    attempts: list[int] = []
    sleeps: list[float] = []
    monkeypatch.setattr("botocore.endpoint.time.sleep", sleeps.append)  # no real waiting

    def throttle(request: Any, **_: Any) -> AWSResponse:
        attempts.append(1)
        body = b'{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"x"}'
        headers = {
            "x-amzn-ErrorType": "ThrottlingException",
            "Content-Type": "application/x-amz-json-1.0",
        }
        return AWSResponse(request.url, 400, headers, _Raw(body))

    store.client.meta.events.register("before-send.dynamodb.PutItem", throttle)

    # WHEN a write is attempted THEN it is retried 8 times in all and reported as 503
    with pytest.raises(DependencyUnavailable):
        store.practice(A).put({"pk": "P", "sk": "S"})
    assert len(attempts) == 8
    assert len(sleeps) == 7


def _cancelled(stubber: Stubber, *reasons: dict[str, Any]) -> None:
    stubber.add_client_error(
        "transact_write_items",
        service_error_code="TransactionCanceledException",
        service_message="Transaction cancelled",
        modeled_fields={"CancellationReasons": list(reasons)},
    )


TWO_PUTS = [Put({"pk": "P", "sk": "1"}), Put({"pk": "P", "sk": "2"}, VersionIs(1))]


def test_dynamo_cancellation_reason_names_the_failing_operation(
    stubbed: tuple[DynamoStore, Stubber],
) -> None:
    store, stubber = stubbed
    _cancelled(
        stubber,
        {"Code": "None"},
        {"Code": "ConditionalCheckFailed", "Item": {"version": {"N": "3"}}},
    )
    with stubber, pytest.raises(ConditionFailed) as failed:
        store.practice(A).transact(TWO_PUTS)
    assert (failed.value.index, failed.value.current_version) == (1, 3)


def test_dynamo_transaction_conflict_is_mapped(stubbed: tuple[DynamoStore, Stubber]) -> None:
    store, stubber = stubbed
    _cancelled(stubber, {"Code": "TransactionConflict"}, {"Code": "None"})
    with stubber, pytest.raises(TransactionConflict):
        store.practice(A).transact(TWO_PUTS)
    stubber.assert_no_pending_responses()


def test_dynamo_throttled_transaction_is_retried_then_unavailable(
    stubbed: tuple[DynamoStore, Stubber],
) -> None:
    store, stubber = stubbed
    for _ in range(TRANSACT_ATTEMPTS):
        _cancelled(stubber, {"Code": "ThrottlingError"}, {"Code": "None"})
    with stubber, pytest.raises(DependencyUnavailable):
        store.practice(A).transact(TWO_PUTS)
    stubber.assert_no_pending_responses()


def test_dynamo_throttled_transaction_succeeds_on_retry(
    stubbed: tuple[DynamoStore, Stubber],
) -> None:
    store, stubber = stubbed
    _cancelled(stubber, {"Code": "None"}, {"Code": "ThrottlingError"})
    stubber.add_response("transact_write_items", {})
    with stubber:
        store.practice(A).transact(TWO_PUTS)
    stubber.assert_no_pending_responses()


def test_dynamo_unavailable_and_denied_errors(stubbed: tuple[DynamoStore, Stubber]) -> None:
    store, stubber = stubbed
    stubber.add_client_error("get_item", "ProvisionedThroughputExceededException")
    stubber.add_client_error("get_item", "AccessDeniedException")
    with stubber:
        with pytest.raises(DependencyUnavailable):
            store.practice(A).get("P", "S")
        # A permissions bug must stay loud, not look like a retryable outage.
        with pytest.raises(ClientError):
            store.practice(A).get("P", "S")


def test_dynamo_table_reads_are_consistent_and_index_reads_are_not(
    dynamo_store: DynamoStore, dynamo_operations: list[str]
) -> None:
    store = dynamo_store
    sent: list[dict[str, Any]] = []

    def capture(params: dict[str, Any], **_: Any) -> None:
        sent.append(dict(params))

    events = store.client.meta.events
    events.register("provide-client-params.dynamodb.Query", capture, "capture-query")
    try:
        practice = store.practice(A)
        practice.query("P")
        practice.query("X", index="gsi1")
    finally:
        events.unregister("provide-client-params.dynamodb.Query", capture, "capture-query")

    assert [p.get("ConsistentRead") for p in sent] == [True, None]
    assert sent[0]["ExpressionAttributeValues"][":p"] == {"S": "prac_a|P"}
    assert sent[1]["IndexName"] == "gsi1"
    assert set(dynamo_operations) == {"Query"}


def test_dynamo_commit_carries_one_client_request_token_across_every_retry(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN DynamoDB's first answer to a commit is lost (a 500 after it may have applied)
    store = DynamoStore("T", region="us-east-1")
    monkeypatch.setattr("botocore.endpoint.time.sleep", lambda _: None)
    tokens: list[str] = []

    def flaky(request: Any, **_: Any) -> AWSResponse:
        tokens.append(json.loads(request.body)["ClientRequestToken"])
        if len(tokens) == 1:
            body = b'{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError"}'
            headers = {"x-amzn-ErrorType": "InternalServerError"}
            return AWSResponse(request.url, 500, headers, _Raw(body))
        return AWSResponse(request.url, 200, {}, _Raw(b"{}"))

    store.client.meta.events.register("before-send.dynamodb.TransactWriteItems", flaky)
    # WHEN it is committed THEN the retry is the same idempotent transaction (DynamoDB
    # answers a repeated token with success, never ConditionalCheckFailed) ...
    store.practice(A).transact(TWO_PUTS)
    assert len(tokens) == 2
    assert tokens[0] == tokens[1]
    assert len(tokens[0]) == 36
    # ... and a new commit is a new transaction with a token of its own.
    store.practice(A).transact(TWO_PUTS)
    assert tokens[2] != tokens[0]


def test_dynamo_throttled_retry_reuses_the_commits_token(
    stubbed: tuple[DynamoStore, Stubber],
) -> None:
    store, stubber = stubbed
    sent: list[str] = []
    store.client.meta.events.register(
        "before-parameter-build.dynamodb.TransactWriteItems",
        lambda params, **_: sent.append(params["ClientRequestToken"]),
    )
    _cancelled(stubber, {"Code": "None"}, {"Code": "ThrottlingError"})
    stubber.add_response("transact_write_items", {})
    with stubber:
        store.practice(A).transact(TWO_PUTS)
    assert len(sent) == 2
    assert sent[0] == sent[1]


def test_sqlite_failed_commit_leaves_no_transaction_open(sqlite_store: SqliteStore) -> None:
    # GIVEN this thread's connection refuses to COMMIT once (as a full disk would)
    practice = sqlite_store.practice(A)
    conn = sqlite_store._connection()

    def no_commit(action: int, arg1: Any, *_: Any) -> int:
        if action == sqlite3.SQLITE_TRANSACTION and arg1 == "COMMIT":
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK

    conn.set_authorizer(no_commit)
    with pytest.raises(sqlite3.DatabaseError):
        practice.put({"pk": "P", "sk": "lost"})
    conn.set_authorizer(None)
    # THEN nothing was written, the connection is not stuck in the transaction, and the
    # next write on the same thread works
    assert not conn.in_transaction
    assert practice.get("P", "lost") is None
    practice.put({"pk": "P", "sk": "kept"})
    assert practice.get("P", "kept") is not None

"""Audited requests per second for ONE practice, with 1, 4, 16 and 64 concurrent clients,
on the SQLite store and on the DynamoDB adapter (moto server over HTTP).

Every audited request — reads included — appends one event to one of the practice's
chains (shards): a transaction that moves that shard's head row forward (optimistic lock;
a request that loses the race retries on another shard, then with jittered backoff).
Measured per client: `AuditTrail.write_with_audit` of one small business row plus its
event, as a request does, with ONE shard (the design before shards: every request on one
head row — the baseline the sharded figures are held against, from the same run) and
with SHARDS shards. Reported: throughput (requests/s), p50 and p99 latency, the retries
the head locks cost (`AuditTrail.contention_retries`), requests that failed
(TransactionConflict after the retries ran out), and the sharded/one-shard throughput
ratio. Latency figures are held against a plain conditional put of the same row, no
audit (one client), to show what the chain adds.

The target in issue 10 is a 200-clinician practice's peak: >= 100 audited requests/s with
no request failing on contention. See docs/decisions.md (2026-12-07, audit throughput)
for what the figures mean for the design. moto's figures are for the adapter's code
path, not DynamoDB's latency (moto answers in-process; its backend is not built for
concurrent transactions, so conflicts there are serialised by a lock, not by DynamoDB).
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from benchmarks.common import ROOT, Figure, Options, Outcome, Stats
from tpm.adapters.store.base import Absent, Put, Store, TransactionConflict
from tpm.adapters.store.sqlite import SqliteStore
from tpm.clock import SystemClock
from tpm.ids import new_id
from tpm.security.audit import AuditTrail
from tpm.security.audit_chain import AuditEvent
from tpm.security.audit_checkpoints import LocalCheckpointSigner, LocalCheckpointSink
from tpm.security.principal import SystemActor

NAME = "audit_throughput"
CLIENTS = (1, 4, 16, 64)
SHARDS = 8  # what docs/operations.md suggests for a practice this busy
QUICK_CLIENTS = (1, 4)
PER_CLIENT, QUICK_PER_CLIENT = 20, 5
DYNAMO_TOTAL = 128
TARGET_RPS = 100.0
PRACTICE = "prx_01benchaudit00000000000000"


def benchmark(options: Options) -> Outcome:
    clients = QUICK_CLIENTS if options.quick else CLIENTS
    per_client = QUICK_PER_CLIENT if options.quick else PER_CLIENT
    return measure(
        clients=clients,
        per_client=per_client,
        backends=("sqlite", "dynamodb"),
        dynamo_total=32 if options.quick else DYNAMO_TOTAL,
    )


def measure(
    *,
    clients: tuple[int, ...],
    per_client: int,
    backends: tuple[str, ...],
    dynamo_total: int | None = None,
    shards: tuple[int, ...] = (1, SHARDS),
) -> Outcome:
    """`per_client` requests per client; on DynamoDB (moto), with `dynamo_total`, about
    that many requests per level instead (moto slows down and grows under contention).
    Each level runs once per shard count in `shards` (the first is the baseline)."""
    outcome = Outcome(NAME)
    logging.getLogger("tpm").setLevel(logging.CRITICAL)
    rows: list[dict[str, object]] = []
    for backend in backends:
        with _store(backend) as store:
            baseline = _plain_puts(store, max(per_client * 2, 10))
        for count in shards:
            for n in clients:
                each = per_client
                if backend == "dynamodb" and dynamo_total is not None:
                    each = max(2, dynamo_total // n)
                run = _level(backend, count, n, each)
                rows.append({"backend": backend, "shards": count, "clients": n, **run.summary()})
                outcome.figures.append(
                    Figure(
                        f"{backend}: {count} shard(s), {n} client(s), one audited write",
                        "ms",
                        Stats.of(run.latencies or [0.0]),
                        baseline,
                        "plain conditional put, no audit (1 client)",
                    )
                )
                outcome.notes.append(_note(backend, count, n, run, rows))
    outcome.details["runs"] = rows
    return outcome


def _level(backend: str, shards: int, clients: int, per_client: int) -> Run:
    # A fresh store per level: moto copies a table for each transaction, so a table grown
    # by the levels before would slow (and swell) the next one.
    with _store(backend) as store, tempfile.TemporaryDirectory() as tmp:
        trail = AuditTrail(
            LocalCheckpointSigner(Path(tmp) / "signing"),
            LocalCheckpointSink(Path(tmp) / "sink"),
            clock=SystemClock(),
        )
        if shards > 1:
            actor = SystemActor("bench", PRACTICE)
            opening = AuditEvent.for_system(actor, action="bench.open", resource_kind="thing")
            trail.open_shards(store.practice(PRACTICE), shards, opening)
        return _run(store, trail, clients, per_client)


def _note(backend: str, shards: int, clients: int, run: Run, rows: list[dict[str, object]]) -> str:
    one = next(
        (r for r in rows if (r["backend"], r["shards"], r["clients"]) == (backend, 1, clients)),
        None,
    )
    ratio = ""
    if shards > 1 and one is not None and float(str(one["rps"])) > 0:
        ratio = f", x{run.rps / float(str(one['rps'])):.2f} the req/s of one shard"
    return (
        f"  {backend:8} {shards:>2} shard(s) {clients:>2} clients: {run.rps:7.1f} audited req/s,"
        f" p50 {run.p(50):7.1f} ms, p99 {run.p(99):7.1f} ms,"
        f" retries {run.retries:4}, failed {run.failed}/{run.total}{ratio}"
        f"  (target >= {TARGET_RPS:.0f}/s, none failed:"
        f" {'yes' if run.rps >= TARGET_RPS and not run.failed else 'NO'})"
    )


class Run:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.failed = 0
        self.total = 0
        self.retries = 0
        self.elapsed = 0.0
        self._lock = threading.Lock()

    @property
    def rps(self) -> float:
        done = self.total - self.failed
        return done / self.elapsed if self.elapsed > 0 else 0.0

    def p(self, pct: int) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]

    def summary(self) -> dict[str, object]:
        return {
            "requests": self.total,
            "failed": self.failed,
            "retries": self.retries,
            "rps": round(self.rps, 1),
            "p50_ms": round(self.p(50), 2),
            "p99_ms": round(self.p(99), 2),
        }


def _run(store: Store, trail: AuditTrail, clients: int, per_client: int) -> Run:
    run = Run()
    practice = store.practice(PRACTICE)
    actor = SystemActor("bench", PRACTICE)
    before = trail.contention_retries
    barrier = threading.Barrier(clients)

    def client() -> None:
        barrier.wait()
        for _ in range(per_client):
            item = {"pk": f"THING#{new_id('thg')}", "sk": "A", "version": 1}
            event = AuditEvent.for_system(actor, action="bench.write", resource_kind="thing")
            started = time.perf_counter()
            try:
                trail.write_with_audit(practice, lambda i=item: [Put(i, Absent())], event)
            except TransactionConflict:
                with run._lock:
                    run.failed += 1
                    run.total += 1
                continue
            took = (time.perf_counter() - started) * 1000
            with run._lock:
                run.latencies.append(took)
                run.total += 1

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        for future in [pool.submit(client) for _ in range(clients)]:
            future.result()
    run.elapsed = time.perf_counter() - started
    run.retries = trail.contention_retries - before
    return run


def _plain_puts(store: Store, count: int) -> Stats:
    practice = store.practice(PRACTICE)
    samples = []
    for _ in range(count):
        item = {"pk": f"PLAIN#{new_id('thg')}", "sk": "A", "version": 1}
        started = time.perf_counter()
        practice.transact([Put(item, Absent())])
        samples.append((time.perf_counter() - started) * 1000)
    return Stats.of(samples)


@contextmanager
def _store(backend: str) -> Iterator[Store]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            store = SqliteStore(Path(tmp) / "tpm.db", clock=SystemClock())
            try:
                yield store
            finally:
                store.close()
        return
    with _moto_table() as make:
        yield make()


@contextmanager
def _moto_table() -> Iterator[Callable[[], Store]]:
    import boto3
    from moto import mock_aws

    from tpm.adapters.store.dynamodb import DynamoStore
    from tpm.local.template import load_template

    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"})
    try:
        with mock_aws():
            client = boto3.client("dynamodb", region_name="us-east-1")
            props = load_template(ROOT / "template.yaml")["Resources"]["Table"]["Properties"]
            client.create_table(
                TableName="bench",
                KeySchema=props["KeySchema"],
                AttributeDefinitions=props["AttributeDefinitions"],
                GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"],
                BillingMode=props["BillingMode"],
            )
            locked = _OneAtATime(client)
            yield lambda: DynamoStore("bench", client=locked, clock=SystemClock())  # type: ignore[arg-type]
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class _OneAtATime:
    """moto's in-memory backend is not thread-safe: one call at a time reaches it (as
    DynamoDB serialises transactions on the same item; the clients still race for the head
    between their read and their commit, which is what the retries measure)."""

    def __init__(self, client: object) -> None:
        self._client = client
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> object:
        attr = getattr(self._client, name)
        if not callable(attr) or name.startswith("_"):
            return attr

        def call(*args: object, **kwargs: object) -> object:
            with self._lock:
                return attr(*args, **kwargs)

        return call

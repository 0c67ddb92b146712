"""The secure-messaging inbox: store calls and time per page with 10,000 threads.

Seeded: a practice with THREADS patient threads (one patient each) in which the
benchmarked clinician takes part — their inbox holds all of them, the worst case — as
sending the messages would leave them (thread, inbox row).

Measured: `MessagingService.inbox(25, cursor)` for the clinician, page after page from the
newest: authorisation, ONE query on the inbox index (`INBOX#<user>` by last activity; the
rows carry the sealed subject and patient name), opening the rows, and the audit event.

Baseline (same run, same data, same authorisation and audit event): the obvious design
without inbox rows — one query for the caller's thread ids (a membership list), then a
get per thread for what the list shows — which is 1 + 25 store calls per page.

On the local SQLite store a get costs microseconds, so the times differ little; on
DynamoDB every call is a network round trip (milliseconds), which is why the figure to
keep is the number of store calls per page.

Store calls are counted with `store.calls` around each page; the inbox query itself is
reported apart from the audit trail's own calls (reading the chain head, one transaction).
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from benchmarks.common import Figure, Options, Outcome, Stats
from tpm.adapters.store.base import Operation
from tpm.clock import FixedClock
from tpm.domain.messaging import AuthorKind, InboxEntry, Thread, ThreadKind
from tpm.domain.patients import Patient
from tpm.domain.users import User, UserStatus
from tpm.ids import new_id
from tpm.local.bootstrap import local_settings
from tpm.repositories.messaging import MessagingRepository
from tpm.repositories.patients import PatientRepository
from tpm.repositories.users import UserRepository
from tpm.runtime import Runtime, build_runtime
from tpm.security.principal import Principal, Role
from tpm.services.context import ServiceContext
from tpm.services.messaging import MessagingService
from tpm.services.practices import create_practice

NAME = "inbox"
THREADS, QUICK_THREADS = 10_000, 1_000
PAGES, QUICK_PAGES = 40, 10
PAGE_SIZE = 25
START = datetime(2030, 1, 7, 14, 0, tzinfo=UTC)
PER_TRANSACTION = 45  # thread + inbox row each, under the 100-item limit


def seed(runtime: Runtime, practice_id: str, threads: int) -> Principal:
    store = runtime.store.practice(practice_id)
    repo = MessagingRepository(store, runtime.cipher)
    clinician = User(
        id=new_id("usr"),
        email="inbox-bench@example.test",
        display_name="Bench Clinician (synthetic)",
        roles=frozenset({Role.CLINICIAN}),
        status=UserStatus.ACTIVE,
        created_at=START,
    )
    store.transact(UserRepository(store, runtime.cipher).create_ops(clinician))
    patient = Patient(
        id=new_id("pat"),
        legal_first_name="Bench",
        legal_last_name="Patient",
        date_of_birth=date(1990, 1, 1),
        created_at=START,
        created_by="bench",
    )
    store.put(PatientRepository(store, runtime.cipher).create_op(patient).item)
    ops: list[Operation] = []
    for n in range(threads):
        at = START + timedelta(minutes=n)
        thread = Thread(
            id=new_id("thr"),
            kind=ThreadKind.PATIENT,
            patient_id=patient.id,
            subject=f"Synthetic subject {n}",
            patient_name="Bench Patient",
            staff_ids=(clinician.id,),
            created_by=clinician.id,
            created_at=at,
            last_message_at=at,
            last_author_kind=AuthorKind.PATIENT,
            message_count=1,
        )
        put = repo.thread_op(thread)
        entry = InboxEntry(
            user_id=clinician.id,
            thread_id=thread.id,
            kind=thread.kind,
            patient_id=patient.id,
            subject=thread.subject,
            patient_name=thread.patient_name,
            last_message_at=at,
            last_author_kind=AuthorKind.PATIENT,
            last_author_name="",
            unread=n % 3,
        )
        ops += [put, repo.inbox_op(entry, repo.labels(put))]
        if len(ops) >= 2 * PER_TRANSACTION:
            store.transact(ops)
            ops = []
    if ops:
        store.transact(ops)
    return Principal(
        user_id=clinician.id,
        practice_id=practice_id,
        roles=clinician.roles,
        session_id="ses_bench",
        auth_time=START,
        mfa_authenticated=False,
        display_name=clinician.display_name,
    )


def baseline_page(ctx: ServiceContext, repo: MessagingRepository, cursor: str | None) -> str | None:
    """Without inbox rows: the caller's thread ids (one query), then each thread (a get);
    authorised and audited like the real page."""
    access = ctx.authorize(
        "message.inbox.read", resource_kind="message_thread", user_id=ctx.principal.user_id
    )
    page = repo.store.query(
        f"INBOX#{ctx.principal.user_id}",
        index="gsi1",
        limit=PAGE_SIZE,
        cursor=cursor,
        descending=True,
    )
    threads = [repo.get_thread(str(item["thread_id"])) for item in page.items]
    ctx.record(access, "message_thread", reason_code=f"count_{len(threads)}")
    return page.next_cursor


def measure(*, threads: int, pages: int) -> Outcome:
    outcome = Outcome(NAME, details={"threads": threads, "pages": pages, "page_size": PAGE_SIZE})
    logging.getLogger("tpm").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="tpm-bench-") as tmp:
        runtime = build_runtime(
            local_settings(Path(tmp), environment="test"), clock=FixedClock(START)
        )
        try:
            practice = create_practice(
                runtime.store, runtime.clock, name="Bench", slug="bench", timezone="UTC"
            )
            started = time.perf_counter()
            principal = seed(runtime, practice.id, threads)
            outcome.details["seed_s"] = round(time.perf_counter() - started, 2)
            repo = MessagingRepository(runtime.store.practice(practice.id), runtime.cipher)
            inbox_calls: Counter[str] = Counter()
            base_calls: Counter[str] = Counter()
            inbox_ms: list[float] = []
            base_ms: list[float] = []
            cursor: str | None = None
            base_cursor: str | None = None
            listed = 0
            for _ in range(pages):
                service = MessagingService(ServiceContext(runtime, principal))
                runtime.store.calls.reset()
                t0 = time.perf_counter_ns()
                entries, cursor = service.inbox(PAGE_SIZE, cursor)
                inbox_ms.append((time.perf_counter_ns() - t0) / 1e6)
                inbox_calls.update(runtime.store.calls.reset())
                listed += len(entries)
                t0 = time.perf_counter_ns()
                base_cursor = baseline_page(ServiceContext(runtime, principal), repo, base_cursor)
                base_ms.append((time.perf_counter_ns() - t0) / 1e6)
                base_calls.update(runtime.store.calls.reset())
                if cursor is None:
                    break
            n = len(inbox_ms)
        finally:
            runtime.store.close()
    per_page = {op: round(c / n, 2) for op, c in sorted(inbox_calls.items())}
    base_page = {op: round(c / n, 2) for op, c in sorted(base_calls.items())}
    outcome.details |= {
        "store_calls_per_page": per_page,
        "baseline_store_calls_per_page": base_page,
        "rows_listed": listed,
    }
    # The audit trail's own calls: the chain head (a get) and the append (a transaction).
    inbox_queries = per_page.get("query", 0)
    outcome.notes.append(
        f"inbox with {threads} threads: {inbox_queries:g} store query per page for the list; "
        f"all calls per page {per_page} (the get and the transaction are the audit event's); "
        f"baseline {base_page}"
    )
    if inbox_queries != 1:
        outcome.failures.append(f"the inbox made {inbox_queries} queries per page, not 1")
    outcome.figures.append(
        Figure(
            f"MessagingService.inbox page of {PAGE_SIZE} ({threads} threads)",
            "ms",
            Stats.of(inbox_ms),
            Stats.of(base_ms),
            "ids query + a get per thread (no inbox rows)",
            None,
        )
    )
    return outcome


def benchmark(options: Options) -> Outcome:
    if options.quick:
        return measure(threads=QUICK_THREADS, pages=QUICK_PAGES)
    return measure(threads=THREADS, pages=PAGES)

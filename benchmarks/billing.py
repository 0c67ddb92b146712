"""Billing at volume, on the local SQLite store.

1. `claims`: 1,000 claims rendered into one 837P and validated by pyx12 and our rules
   (`validate_837p`). Baseline, same run, same file: pyx12 alone — so the ratio is what
   our rules layer and the reading around pyx12 add.
2. `post_835`: an 835 paying 1,000 stored claims (each line with CO-45 and PR-3), received
   through `InboundFiles.receive` as a biller: stored raw, read, balanced, deduped, every
   claim matched by CLP01 and its line by REF*6R, ledger entries and claim updates written
   with their audit events. Baseline, same run: 1,000 plain single-item puts on a fresh
   file (the least any per-claim durable write could cost). Store calls are counted.
Targets (issue 14): both finish in well under a minute on the 2-core CI machine; the
figures and ratios are what to compare across runs.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from benchmarks.common import Figure, Options, Outcome, Stats
from tpm.adapters.store.base import MAX_TRANSACTION_ITEMS, Operation
from tpm.adapters.store.sqlite import SqliteStore
from tpm.adapters.x12_validator import pyx12_problems, validate_837p
from tpm.clock import FixedClock
from tpm.domain.billing import claim837 as x
from tpm.domain.billing.remit835 import Adjustment, ClaimPayment, ServiceLine
from tpm.domain.billing.responses import render_835
from tpm.local.bootstrap import local_settings
from tpm.runtime import build_runtime
from tpm.security.principal import Principal, Role
from tpm.services.context import ServiceContext
from tpm.services.practices import create_practice
from tpm.services.remittances import InboundFiles

NAME = "billing"
CLAIMS, QUICK_CLAIMS = 1_000, 100
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
DOS = date(2026, 12, 1)
TARGET_SECONDS = 60.0


def synthetic_claims(count: int) -> list[x.Claim]:
    address = x.PostalAddress(
        line1="100 Main St", city="Springfield", state="IL", postal_code="62701-1234"
    )
    billing = x.BillingProvider(
        party=x.Party(kind="organisation", last_name="Synthetic Counseling Group"),
        npi="1245319599",
        ein="123456789",
        taxonomy="261QM0801X",
        address=address,
    )
    rendering = x.RenderingProvider(
        party=x.Party(kind="person", last_name="Example", first_name="Riley"),
        npi="1679576722",
        taxonomy="1041C0700X",
    )
    payer = x.Payer(name="Synthetic Health Plan", payer_id="SYNPY1", filing_indicator="CI")
    out = []
    for i in range(count):
        pcn = f"B{i:08d}"
        subscriber = x.Insured(
            last_name=f"Bench{i}",
            first_name="Synthetic",
            date_of_birth=date(1980, 1, 1),
            address=x.PostalAddress(
                line1="1 Elm St", city="Springfield", state="IL", postal_code="62702"
            ),
        )
        out.append(
            x.Claim(
                claim_id=pcn,
                place_of_service="10",
                billing=billing,
                rendering=rendering,
                payer=payer,
                subscriber=subscriber,
                member_id=f"M{i:09d}",
                diagnoses=("F33.1", "F41.1"),
                lines=(
                    x.ClaimLine(
                        control_number=f"{pcn}-1",
                        procedure="90837",
                        modifiers=("95",),
                        charge=Decimal(200),
                        service_date=DOS,
                        pointers=(1, 2),
                    ),
                    x.ClaimLine(
                        control_number=f"{pcn}-2",
                        procedure="90785",
                        modifiers=("95",),
                        charge=Decimal(45),
                        service_date=DOS,
                        pointers=(1,),
                    ),
                ),
            )
        )
    return out


def envelope() -> x.Envelope:
    return x.Envelope(
        sender_id="TPMSYNTH",
        receiver_id="CLEARHOUSE",
        submitter=x.Party(kind="organisation", last_name="Synthetic Counseling Group"),
        submitter_id="TPMSYNTH",
        contact_name="Billing Office",
        contact_phone="5555550100",
        receiver_name="Synthetic Clearinghouse",
        interchange_control=1,
        group_control=1,
        transaction_control="0001",
        batch_reference="BENCH",
        created_at=NOW,
    )


def measure_claims(count: int, outcome: Outcome) -> None:
    claims = synthetic_claims(count)
    started = time.perf_counter()
    text = x.render_837p(envelope(), claims)
    rendered = time.perf_counter()
    problems = validate_837p(text)
    ours = time.perf_counter() - started
    pyx12_started = time.perf_counter()
    pyx12_problems(text)
    baseline = time.perf_counter() - pyx12_started
    if problems:
        outcome.failures.append(
            f"{len(problems)} problem(s) in the generated 837P: {problems[0].line()}"
        )
    outcome.figures.append(
        Figure(
            subject=f"{count:,} claims: render 837P + pyx12 + our rules",
            unit="ms",
            measured=Stats.of([ours * 1000]),
            baseline=Stats.of([baseline * 1000]),
            baseline_name="pyx12 alone on the same file",
        )
    )
    outcome.notes.append(
        f"  837P: {len(text) / 1024:,.0f} KiB, {text.count('~'):,} segments; rendered in"
        f" {(rendered - started) * 1000:,.0f} ms; {count / ours:,.0f} claims/s validated"
    )
    outcome.details |= {
        "claims": count,
        "validate_seconds": round(ours, 3),
        "pyx12_seconds": round(baseline, 3),
        "problems": len(problems),
    }


def seed(runtime: object, practice_id: str, count: int) -> list[ClaimPayment]:
    """`count` stored claims (set-up, insured patients) and the 835 payments for them."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from support.billing_setup import BillingFixture

    store = runtime.store.practice(practice_id)  # type: ignore[attr-defined]
    pending: list[Operation] = []

    def write(ops: list[Operation]) -> None:
        for start in range(0, len(ops), MAX_TRANSACTION_ITEMS):
            store.transact(ops[start : start + MAX_TRANSACTION_ITEMS])

    fx = BillingFixture(store, runtime.cipher, write, NOW).set_up("usr_" + "0" * 26)  # type: ignore[attr-defined]
    payments = []
    for i in range(count):
        patient = fx.insured_patient(pending, last=f"Bench{i}")
        claim = fx.claim(patient.id, "accepted", f"PAYER{i:07d}", ops=pending)
        line = claim.lines[0]
        payments.append(
            ClaimPayment(
                claim_id=claim.pcn,
                status="1",
                charge=line.charge,
                paid=Decimal(120),
                patient_responsibility=Decimal(40),
                filing_indicator="12",
                payer_claim_number=f"PAYER{i:07d}",
                lines=[
                    ServiceLine(
                        "90837",
                        (),
                        line.charge,
                        Decimal(120),
                        "1",
                        DOS,
                        line.control_number,
                        None,
                        [Adjustment("CO", "45", Decimal(40)), Adjustment("PR", "3", Decimal(40))],
                    )
                ],
            )
        )
        if len(pending) >= 90:
            write(pending)
            pending.clear()
    if pending:
        write(pending)
    return payments


def raw_puts(path: Path, count: int) -> float:
    store = SqliteStore(path)
    try:
        practice = store.practice("prx_baseline")
        started = time.perf_counter()
        for i in range(count):
            practice.put({"pk": "BASELINE", "sk": f"{i:08d}", "text": "x" * 200})
        return time.perf_counter() - started
    finally:
        store.close()


def measure_posting(count: int, outcome: Outcome) -> None:
    with tempfile.TemporaryDirectory(prefix="tpm-bench-billing-") as tmp:
        clock = FixedClock(NOW)
        runtime = build_runtime(local_settings(Path(tmp) / "data", environment="test"), clock=clock)
        try:
            practice = create_practice(
                runtime.store, clock, name="Bench Billing", slug="bench", timezone="America/Chicago"
            )
            payments = seed(runtime, practice.id, count)
            text = render_835(
                sender="SYNPY1",
                receiver="TPMSYNTH",
                at=NOW,
                control=9,
                payer_name="SYNTHETIC HEALTH PLAN",
                payer_tin="1999999999",
                payee_name="SYNTHETIC COUNSELING GROUP",
                payee_npi="1245319599",
                trace="EFTBENCH",
                payment_date=date(2026, 12, 5),
                claims=payments,
            )
            biller = Principal(
                user_id="usr_" + "1" * 26,
                practice_id=practice.id,
                roles=frozenset({Role.BILLER}),
                session_id="ses_bench",
                auth_time=NOW,
                mfa_authenticated=True,
            )
            ctx = ServiceContext(runtime, biller)
            runtime.store.calls.reset()
            started = time.perf_counter()
            result = InboundFiles(ctx).receive(text)
            seconds = time.perf_counter() - started
            calls = runtime.store.calls.reset()
        finally:
            runtime.store.close()
        baseline = raw_puts(Path(tmp) / "baseline.db", count)
    if (result.claims_posted, result.exceptions) != (count, 0):
        outcome.failures.append(
            f"posted {result.claims_posted} of {count}, {result.exceptions} exception(s)"
        )
    outcome.figures.append(
        Figure(
            subject=f"835 with {count:,} claims received and posted",
            unit="ms",
            measured=Stats.of([seconds * 1000]),
            baseline=Stats.of([baseline * 1000]),
            baseline_name=f"{count:,} raw SqliteStore puts",
        )
    )
    total_calls = sum(calls.values())
    verdict = "PASS" if seconds <= TARGET_SECONDS * count / CLAIMS else "OVER"
    outcome.notes += [
        f"  posting: {count / seconds:,.0f} claims/s; baseline {count / baseline:,.0f} puts/s",
        f"  store calls per claim: {total_calls / count:.2f} ({calls})",
        f"  target: {CLAIMS:,} claims in <= {TARGET_SECONDS:.0f} s (scaled): {verdict}",
    ]
    outcome.details |= {
        "posted_claims": result.claims_posted,
        "post_seconds": round(seconds, 3),
        "baseline_seconds": round(baseline, 3),
        "store_calls": calls,
        "verdict": verdict,
    }


def measure(count: int) -> Outcome:
    outcome = Outcome(NAME)
    measure_claims(count, outcome)
    measure_posting(count, outcome)
    return outcome


def benchmark(options: Options) -> Outcome:
    return measure(QUICK_CLAIMS if options.quick else CLAIMS)

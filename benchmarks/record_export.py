"""record_export — the right-of-access package for a long-treated patient: the time to map
the designated record set to a FHIR R4 bundle, validate it (fhir.resources' R4B models and
the required status codes) and serialise it, and the time to render the PDF.

Seeded (in memory, synthetic): three years of weekly therapy — 156 visits, 156 signed
progress notes of ~1.5 KB each, 156 PHQ-9 results, 4 filed documents of 100 KB, 3 consents.

Baseline (same run, same facts): `json.dumps` of the facts as plain dicts — what writing the
record out with no FHIR mapping and no validation costs. The ratio is the price of a
standard, validated format; the absolute figure says whether the officer's "Give the copy"
click answers in a reasonable time (a Lambda has 29 s behind API Gateway).
"""

from __future__ import annotations

import dataclasses
import json
import time
from datetime import UTC, date, datetime, timedelta

from benchmarks.common import Figure, Options, Outcome, Stats
from tpm.domain.record_export import (
    ConsentFacts,
    DocumentFacts,
    MeasureFacts,
    NoteFacts,
    PatientFacts,
    RecordSet,
    VisitFacts,
    bundle_bytes,
    fhir_bundle,
    validate_bundle,
)
from tpm.services.record_pdf import render_record_pdf

NAME = "record_export"
WEEKS = 156
START = datetime(2024, 1, 8, 15, 0, tzinfo=UTC)
NOTE_TEXT = "\n".join(
    f"section {i} / field: synthetic clinical text for the benchmark, nothing real. " * 3
    for i in range(8)
)


def record_set() -> RecordSet:
    hour = timedelta(hours=1)
    weeks = [START + timedelta(weeks=w) for w in range(WEEKS)]
    return RecordSet(
        practice_name="Benchmark Practice (synthetic)",
        generated_at=START + timedelta(weeks=WEEKS),
        patient=PatientFacts(
            id="pat_01jbench000000000000000000",
            first_name="Bench",
            last_name="Patient",
            preferred_name=None,
            date_of_birth=date(1985, 5, 5),
            email="bench@example.test",
            phone="+15555550100",
            address=None,
        ),
        visits=[
            VisitFacts(f"apt_{i:026d}", "completed", at, at + hour, i % 3 == 0, "Therapy", "Dr B")
            for i, at in enumerate(weeks)
        ],
        notes=[
            NoteFacts(f"nte_{i:026d}", "SOAP progress note", at + hour, "Dr B, LCSW", NOTE_TEXT)
            for i, at in enumerate(weeks)
        ],
        documents=[
            DocumentFacts(
                f"doc_{i:026d}",
                f"Letter {i}",
                f"letter{i}.pdf",
                "application/pdf",
                START,
                b"%PDF-1.4\n" + bytes(100_000),
            )
            for i in range(4)
        ],
        measures=[
            MeasureFacts(f"mrs_{i:026d}", "phq9", "PHQ-9", at, 10 + i % 8, "moderate")
            for i, at in enumerate(weeks)
        ],
        consents=[ConsentFacts(f"cns_{i:026d}", "Consent", START, True) for i in range(3)],
    )


def _plain(record: RecordSet) -> bytes:
    def default(value: object) -> str:
        if isinstance(value, bytes):
            return value.hex()
        return str(value)

    return json.dumps(dataclasses.asdict(record), default=default).encode()


def benchmark(options: Options) -> Outcome:
    outcome = Outcome(NAME)
    record = record_set()
    validate_bundle(fhir_bundle(record))  # imports fhir.resources once, outside the timing
    render_record_pdf(record)
    rounds = 3 if options.quick else 9
    fhir_ms: list[float] = []
    pdf_ms: list[float] = []
    plain_ms: list[float] = []
    size = 0
    for _ in range(rounds):
        t0 = time.perf_counter()
        plain = _plain(record)
        t1 = time.perf_counter()
        bundle = fhir_bundle(record)
        validate_bundle(bundle)
        data = bundle_bytes(bundle)
        t2 = time.perf_counter()
        pdf = render_record_pdf(record)
        t3 = time.perf_counter()
        plain_ms.append((t1 - t0) * 1000)
        fhir_ms.append((t2 - t1) * 1000)
        pdf_ms.append((t3 - t2) * 1000)
        size = len(data)
    baseline = Stats.of(plain_ms)
    outcome.figures.append(
        Figure(
            "FHIR bundle: map + validate + serialise",
            "ms",
            Stats.of(fhir_ms),
            baseline,
            "json.dumps of the same facts",
        )
    )
    outcome.figures.append(
        Figure(
            "PDF of the record", "ms", Stats.of(pdf_ms), baseline, "json.dumps of the same facts"
        )
    )
    outcome.details = {
        "entries": len(bundle["entry"]),
        "bundle_bytes": size,
        "pdf_bytes": len(pdf),
        "plain_bytes": len(plain),
    }
    outcome.notes.append(
        f"{len(bundle['entry'])} resources, bundle {size // 1024} KB, PDF {len(pdf) // 1024} KB"
        " (the download goes base64 in JSON: keep a package under the 6 MB Lambda response)"
    )
    return outcome

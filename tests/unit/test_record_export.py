"""The designated record set as a FHIR bundle: every kind of record maps to a resource that
fhir.resources validates, ids become FHIR ids, and a broken mapping is refused."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from tpm.domain.record_export import (
    ConsentFacts,
    DocumentFacts,
    InvalidBundle,
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

NOW = datetime(2026, 12, 6, 16, 0, tzinfo=UTC)
PATIENT = PatientFacts(
    id="pat_01jxk5z2s3v4w5x6y7z8a9b0c1",
    first_name="Pat",
    last_name="Example",
    preferred_name="P",
    date_of_birth=date(1990, 1, 2),
    email="pat@example.com",
    phone="+15555550100",
    address={"line1": "1 Main St", "city": "Springfield", "postal_code": "12345"},
)


def record() -> RecordSet:
    hour = timedelta(hours=1)
    return RecordSet(
        practice_name="Example Practice",
        generated_at=NOW,
        patient=PATIENT,
        visits=[
            VisitFacts("apt_1", "completed", NOW - hour, NOW, False, "Therapy 53", "Dr A"),
            VisitFacts("apt_2", "no_show", NOW, NOW + hour, True, "Therapy 53", "Dr A"),
        ],
        notes=[NoteFacts("nte_1", "SOAP progress note", NOW, "Dr A, LCSW", "plan: weekly")],
        documents=[DocumentFacts("doc_1", "Plan", "plan.pdf", "application/pdf", NOW, b"%PDF")],
        measures=[MeasureFacts("mrs_1", "phq9", "PHQ-9", NOW, 12, "moderate")],
        consents=[
            ConsentFacts("cns_1", "Consent to treatment", NOW, True),
            ConsentFacts("p2c_1", "Part 2 consent", NOW, False, part2=True),
        ],
    )


def test_every_record_kind_becomes_a_valid_r4_resource() -> None:
    bundle = fhir_bundle(record())
    validate_bundle(bundle)
    resources = [e["resource"] for e in bundle["entry"]]
    assert [r["resourceType"] for r in resources] == [
        "Patient",
        "Appointment",
        "Appointment",
        "Encounter",  # only the visit that took place
        "DocumentReference",
        "DocumentReference",
        "Observation",
        "Consent",
        "Consent",
    ]
    assert resources[0]["id"] == "pat-01jxk5z2s3v4w5x6y7z8a9b0c1"
    assert resources[0]["identifier"] == [{"system": "urn:tpm:id", "value": PATIENT.id}]
    assert [r["status"] for r in resources[1:3]] == ["fulfilled", "noshow"]
    phq9 = resources[6]
    assert (phq9["code"]["coding"][0]["code"], phq9["valueInteger"]) == ("44261-6", 12)
    assert [c["status"] for c in resources[7:]] == ["active", "inactive"]
    assert json.loads(bundle_bytes(bundle)) == bundle


@pytest.mark.parametrize(
    ("index", "element", "value"),
    [
        (0, "birthDate", "someday"),  # a type fhir.resources checks
        (0, "gender_identity", "x"),  # not an element of Patient
        (1, "status", "maybe"),  # a code outside the required value set (checked by us)
        (3, "status", "done"),
    ],
)
def test_a_broken_mapping_is_refused_not_delivered(index: int, element: str, value: str) -> None:
    bundle = fhir_bundle(record())
    bundle["entry"][index]["resource"][element] = value
    with pytest.raises(InvalidBundle):
        validate_bundle(bundle)


def test_the_pdf_is_a_pdf() -> None:
    pdf = render_record_pdf(record(), compress=False)
    assert pdf.startswith(b"%PDF-")
    assert b"Your health record" in pdf
    assert b"PHQ-9: total 12" in pdf

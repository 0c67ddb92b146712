"""The patient's designated record set as a FHIR R4 bundle (45 CFR 164.524 right of
access). Pure: the service gathers the records, this turns them into resources.

FHIR version: fhir.resources 8 ships R5 as its default package and R4B (4.3.0, the R4
technical correction) as `fhir.resources.R4B`; it no longer ships 4.0.1. The bundle is
built to R4 and validated with the R4B models: the six resources used here (Patient,
Encounter, Appointment, DocumentReference, Observation, Consent) have the same elements in
both for everything we fill in. `meta.profile` is left empty rather than claim a profile we
do not check.

What goes in (the record set the practice holds about the patient, for treatment and
payment decisions):
  Patient             the demographics on file
  Appointment         every appointment, any status
  Encounter           each visit that took place (arrived or completed)
  DocumentReference   each final progress note (signed or co-signed) as text with its
                      addenda; each document filed for the patient, with its bytes
  Observation         each completed measure (PHQ-9, GAD-7, ...) with its total and band
  Consent             each signed consent (intake consents, 42 CFR Part 2 consents)
Never in: psychotherapy notes (excluded from the right of access, 164.524(a)(1)(i)) —
they live in a separate store the export does not read — and drafts not yet signed.
FHIR ids may not contain "_": tpm ids appear with "-" in its place.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from tpm.clock import to_rfc3339

FHIR_VERSION = "4.0.1"
SYSTEM_ID = "urn:tpm:id"
LOINC = "http://loinc.org"
# Total score codes for the measures tpm ships.
MEASURE_LOINC: Mapping[str, tuple[str, str]] = {
    "phq9": ("44261-6", "Patient Health Questionnaire 9 item (PHQ-9) total score"),
    "phq2": ("55758-7", "Patient Health Questionnaire 2 item (PHQ-2) total score"),
    "gad7": ("70274-6", "Generalized anxiety disorder 7 item (GAD-7) total score"),
    "gad2": ("69725-0", "Generalized anxiety disorder 2 item (GAD-2) total score"),
}
APPOINTMENT_STATUS = {
    "booked": "booked",
    "arrived": "arrived",
    "completed": "fulfilled",
    "cancelled": "cancelled",
    "no_show": "noshow",
}


@dataclass(frozen=True)
class PatientFacts:
    id: str
    first_name: str
    last_name: str
    preferred_name: str | None
    date_of_birth: date
    email: str | None
    phone: str | None
    address: Mapping[str, Any] | None


@dataclass(frozen=True)
class VisitFacts:
    id: str
    status: str
    start: datetime
    end: datetime
    telehealth: bool
    service: str
    clinician: str


@dataclass(frozen=True)
class NoteFacts:
    id: str
    title: str
    signed_at: datetime
    author: str
    text: str  # the content as "label: value" lines, then each addendum


@dataclass(frozen=True)
class DocumentFacts:
    id: str
    title: str
    filename: str
    content_type: str
    created_at: datetime
    data: bytes


@dataclass(frozen=True)
class MeasureFacts:
    id: str
    template_id: str
    title: str
    completed_at: datetime
    total: int
    band: str


@dataclass(frozen=True)
class ConsentFacts:
    id: str
    title: str
    signed_at: datetime
    active: bool
    part2: bool = False


@dataclass(frozen=True)
class RecordSet:
    practice_name: str
    generated_at: datetime
    patient: PatientFacts
    visits: Sequence[VisitFacts] = ()
    notes: Sequence[NoteFacts] = ()
    documents: Sequence[DocumentFacts] = ()
    measures: Sequence[MeasureFacts] = ()
    consents: Sequence[ConsentFacts] = ()
    counts: dict[str, int] = field(default_factory=dict)


def fhir_id(tpm_id: str) -> str:
    return tpm_id.replace("_", "-")


def _identifier(tpm_id: str) -> list[dict[str, str]]:
    return [{"system": SYSTEM_ID, "value": tpm_id}]


def _patient(p: PatientFacts) -> dict[str, Any]:
    names: list[dict[str, Any]] = [
        {"use": "official", "family": p.last_name, "given": [p.first_name]}
    ]
    if p.preferred_name:
        names.append({"use": "usual", "given": [p.preferred_name], "family": p.last_name})
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": fhir_id(p.id),
        "identifier": _identifier(p.id),
        "name": names,
        "birthDate": p.date_of_birth.isoformat(),
    }
    telecom = []
    if p.email:
        telecom.append({"system": "email", "value": p.email})
    if p.phone:
        telecom.append({"system": "phone", "value": p.phone})
    if telecom:
        resource["telecom"] = telecom
    if p.address:
        a = p.address
        lines = [x for x in (a.get("line1"), a.get("line2")) if x]
        address = {"line": lines, "city": a.get("city"), "postalCode": a.get("postal_code")}
        if a.get("region"):
            address["state"] = a["region"]
        address["country"] = a.get("country", "US")
        resource["address"] = [address]
    return resource


def _appointment(v: VisitFacts, patient_ref: str) -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "id": fhir_id(v.id),
        "identifier": _identifier(v.id),
        "status": APPOINTMENT_STATUS.get(v.status, "booked"),
        "serviceType": [{"text": v.service}],
        "start": to_rfc3339(v.start),
        "end": to_rfc3339(v.end),
        "participant": [
            {"actor": {"reference": patient_ref}, "status": "accepted"},
            {"actor": {"display": v.clinician}, "status": "accepted"},
        ],
    }


def _encounter(v: VisitFacts, patient_ref: str) -> dict[str, Any]:
    klass = ("VR", "virtual") if v.telehealth else ("AMB", "ambulatory")
    return {
        "resourceType": "Encounter",
        "id": fhir_id(v.id),
        "identifier": _identifier(v.id),
        "status": "finished" if v.status == "completed" else "arrived",
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": klass[0],
            "display": klass[1],
        },
        "type": [{"text": v.service}],
        "subject": {"reference": patient_ref},
        "participant": [{"individual": {"display": v.clinician}}],
        "appointment": [{"reference": f"Appointment/{fhir_id(v.id)}"}],
        "period": {"start": to_rfc3339(v.start), "end": to_rfc3339(v.end)},
    }


def _document(
    rid: str,
    title: str,
    when: datetime,
    content_type: str,
    data: bytes,
    patient_ref: str,
    *,
    note: bool,
    author: str | None = None,
) -> dict[str, Any]:
    kind: dict[str, Any] = (
        {
            "coding": [{"system": LOINC, "code": "11506-3", "display": "Progress note"}],
            "text": "Progress note",
        }
        if note
        else {"text": "Document"}
    )
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "id": fhir_id(rid),
        "identifier": _identifier(rid),
        "status": "current",
        "type": kind,
        "subject": {"reference": patient_ref},
        "date": to_rfc3339(when),
        "description": title,
        "content": [
            {
                "attachment": {
                    "contentType": content_type,
                    "data": base64.b64encode(data).decode("ascii"),
                    "title": title,
                    "size": len(data),
                    "creation": to_rfc3339(when),
                }
            }
        ],
    }
    if note:
        resource["docStatus"] = "final"
    if author:
        resource["author"] = [{"display": author}]
    return resource


def _observation(m: MeasureFacts, patient_ref: str) -> dict[str, Any]:
    code: dict[str, Any] = {"text": m.title}
    if m.template_id in MEASURE_LOINC:
        loinc, display = MEASURE_LOINC[m.template_id]
        code["coding"] = [{"system": LOINC, "code": loinc, "display": display}]
    return {
        "resourceType": "Observation",
        "id": fhir_id(m.id),
        "identifier": _identifier(m.id),
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "survey",
                    }
                ]
            }
        ],
        "code": code,
        "subject": {"reference": patient_ref},
        "effectiveDateTime": to_rfc3339(m.completed_at),
        "valueInteger": m.total,
        "interpretation": [{"text": m.band}],
    }


def _consent(c: ConsentFacts, patient_ref: str) -> dict[str, Any]:
    return {
        "resourceType": "Consent",
        "id": fhir_id(c.id),
        "identifier": _identifier(c.id),
        "status": "active" if c.active else "inactive",
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": "patient-privacy" if c.part2 else "treatment",
                }
            ]
        },
        "category": [{"coding": [{"system": LOINC, "code": "59284-0"}], "text": c.title}],
        "patient": {"reference": patient_ref},
        "dateTime": to_rfc3339(c.signed_at),
        "policyRule": {"text": "42 CFR Part 2" if c.part2 else c.title},
    }


def fhir_bundle(record: RecordSet) -> dict[str, Any]:
    """The record set as a FHIR `collection` bundle (a plain dict, JSON-ready)."""
    patient_ref = f"Patient/{fhir_id(record.patient.id)}"
    resources: list[dict[str, Any]] = [_patient(record.patient)]
    resources += [_appointment(v, patient_ref) for v in record.visits]
    resources += [
        _encounter(v, patient_ref) for v in record.visits if v.status in ("arrived", "completed")
    ]
    resources += [
        _document(
            n.id,
            n.title,
            n.signed_at,
            "text/plain; charset=utf-8",
            n.text.encode("utf-8"),
            patient_ref,
            note=True,
            author=n.author,
        )
        for n in record.notes
    ]
    resources += [
        _document(d.id, d.title, d.created_at, d.content_type, d.data, patient_ref, note=False)
        for d in record.documents
    ]
    resources += [_observation(m, patient_ref) for m in record.measures]
    resources += [_consent(c, patient_ref) for c in record.consents]
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": to_rfc3339(record.generated_at),
        "meta": {"tag": [{"system": "urn:tpm:export", "code": "designated-record-set"}]},
        "entry": [{"resource": r} for r in resources],
    }


# Required bindings fhir.resources does not check (it validates structure and types, not
# code values): the status codes this mapping writes, from the R4 value sets.
REQUIRED_CODES: Mapping[tuple[str, str], frozenset[str]] = {
    ("Appointment", "status"): frozenset(
        {
            "proposed",
            "pending",
            "booked",
            "arrived",
            "fulfilled",
            "cancelled",
            "noshow",
            "entered-in-error",
            "checked-in",
            "waitlist",
        }
    ),
    ("Encounter", "status"): frozenset(
        {
            "planned",
            "arrived",
            "triaged",
            "in-progress",
            "onleave",
            "finished",
            "cancelled",
            "entered-in-error",
            "unknown",
        }
    ),
    ("DocumentReference", "status"): frozenset({"current", "superseded", "entered-in-error"}),
    ("DocumentReference", "docStatus"): frozenset(
        {"preliminary", "final", "amended", "entered-in-error"}
    ),
    ("Observation", "status"): frozenset(
        {
            "registered",
            "preliminary",
            "final",
            "amended",
            "corrected",
            "cancelled",
            "entered-in-error",
            "unknown",
        }
    ),
    ("Consent", "status"): frozenset(
        {"draft", "proposed", "active", "rejected", "inactive", "entered-in-error"}
    ),
}


class InvalidBundle(ValueError):
    """The bundle does not validate against the FHIR models (a bug in the mapping)."""


def validate_bundle(bundle: Mapping[str, Any]) -> None:
    """Validates every resource with fhir.resources (R4B models; see the module docstring)
    and the status codes against their required value sets. Raises InvalidBundle naming
    the first problem."""
    # fhir.resources loads hundreds of models lazily: import it only when exporting.
    from fhir.resources.R4B.bundle import Bundle
    from pydantic import ValidationError

    try:
        Bundle.model_validate(bundle)
    except ValidationError as exc:
        raise InvalidBundle(str(exc.errors()[:3])) from exc
    for entry in bundle.get("entry", []):
        resource = entry["resource"]
        for (kind, element), allowed in REQUIRED_CODES.items():
            value = resource.get(element) if resource["resourceType"] == kind else None
            if value is not None and value not in allowed:
                raise InvalidBundle(f"{kind}.{element}: {value!r}")


def bundle_bytes(bundle: Mapping[str, Any]) -> bytes:
    return json.dumps(bundle, ensure_ascii=False, indent=1).encode("utf-8")

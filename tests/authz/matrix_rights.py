"""Authorization matrix rows for patients' rights: the disclosure register and the rights
requests (access, amendment, accounting) (see matrix.py for the format).

Requests are written straight through the repository as a system actor, for the variant's
patient ("own": related to the caller; "other": an unrelated patient of the caller's
practice; "foreign": the other practice's). Every case gets a fresh request."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from matrix import (
    CL,
    OW,
    PATIENT_VARIANTS,
    A,
    B,
    C,
    Case,
    F,
    P,
    S,
    Target,
    patient,
    patient_target,
)
from matrix_documents import LocalFolder
from world import World

from tpm.domain.rights import (
    PackageFile,
    PackageFormat,
    RequestKind,
    RequestStatus,
    RightsRequest,
    first_due,
)
from tpm.ids import new_id
from tpm.repositories.rights import RightsRepository
from tpm.security.principal import Role

OFFICERS = {OW: (200, 200, 404), C: (200, 200, 404)}


def stored_request(
    world: World, practice_id: str, patient_id: str, kind: RequestKind, **extra: Any
) -> RightsRequest:
    now = world.runtime.clock.now()
    request = RightsRequest(
        id=new_id("rrq"),
        patient_id=patient_id,
        kind=kind,
        details="Please correct the date of my first visit (synthetic).",
        received_at=now,
        received_on=now.date(),
        requested_by="test-harness",
        due_on=first_due(kind, now.date()),
        **extra,
    )
    repo = RightsRepository(world.runtime.store.practice(practice_id), world.runtime.cipher)
    world.system_write(practice_id, [repo.create_op(request)])
    return request


def request_target(kind: RequestKind, body: Any = None, **extra: Any) -> Target:
    def make(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
        pid = patient(world, role, variant)
        practice_id = world.b.id if variant == "foreign" else world.a.id
        request = stored_request(world, practice_id, pid, kind, **extra)
        return {"patientId": pid, "requestId": request.id}, body

    return make


def package_target(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    """A fulfilled access request of the variant's patient with one stored PDF file."""
    pid = patient(world, role, variant)
    practice_id = world.b.id if variant == "foreign" else world.a.id
    data = b"%PDF-1.4\n% synthetic record\n%%EOF\n"
    file_id = new_id("rpk")
    world.runtime.files.put(practice_id, file_id, data, guard=LocalFolder())
    package = PackageFile(
        format=PackageFormat.PDF,
        file_id=file_id,
        filename="health-record.pdf",
        content_type="application/pdf",
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    request = stored_request(
        world,
        practice_id,
        pid,
        RequestKind.ACCESS,
        status=RequestStatus.FULFILLED,
        package=(package,),
    )
    return {"patientId": pid, "requestId": request.id, "packageFormat": "pdf"}, None


def _yesterday(world: World) -> str:
    return (world.runtime.clock.now().date() - timedelta(days=1)).isoformat()


DISCLOSURE = {
    "recipient": "County public health department (synthetic)",
    "description": "Name, date of birth and a reportable condition",
    "purpose": "Mandatory public health report",
    "basis": "public_health",
}

CASES: list[Case] = [
    Case(
        "POST",
        "/v1/patients/{patientId}/disclosures",
        {
            OW: (201, 201, 404),
            A: (201, 201, 404),
            C: (201, 201, 404),
            F: (201, 201, 404),
            CL: (201, 404, 404),
            S: 404,
        },
        variants=PATIENT_VARIANTS,
        target=patient_target(lambda w, pid: DISCLOSURE | {"disclosed_on": _yesterday(w)}),
        audit=("disclosure.record",),
        patient_scoped=True,
    ),
    Case(
        "GET",
        "/v1/patients/{patientId}/disclosures",
        {OW: (200, 200, 404), A: (200, 200, 404), C: (200, 200, 404)},
        variants=PATIENT_VARIANTS,
        target=patient_target(),
        audit=("disclosure.read",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/patients/{patientId}/rights-requests",
        {
            OW: (201, 201, 404),
            A: (201, 201, 404),
            C: (201, 201, 404),
            F: (201, 201, 404),
            P: (201, 404, 404),
        },
        variants=PATIENT_VARIANTS,
        target=patient_target(lambda w, pid: {"kind": "accounting"}),
        audit=("rights.request",),
        patient_scoped=True,
    ),
    Case(
        "GET",
        "/v1/patients/{patientId}/rights-requests",
        {
            OW: (200, 200, 404),
            A: (200, 200, 404),
            C: (200, 200, 404),
            F: (200, 200, 404),
            P: (200, 404, 404),
        },
        variants=PATIENT_VARIANTS,
        target=patient_target(),
        audit=("rights.read",),
        patient_scoped=True,
    ),
    Case(
        "GET",
        "/v1/patients/{patientId}/rights-requests/{requestId}",
        {
            OW: (200, 200, 404),
            A: (200, 200, 404),
            C: (200, 200, 404),
            F: (200, 200, 404),
            P: (200, 404, 404),
        },
        variants=PATIENT_VARIANTS,
        target=request_target(RequestKind.ACCOUNTING),
        audit=("rights.read",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/patients/{patientId}/rights-requests/{requestId}/extend",
        OFFICERS,
        variants=PATIENT_VARIANTS,
        target=request_target(
            RequestKind.ACCESS, {"version": 1, "reason": "Records are held off site (synthetic)"}
        ),
        audit=("rights.manage",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/patients/{patientId}/rights-requests/{requestId}/accounting",
        OFFICERS,
        variants=PATIENT_VARIANTS,
        target=request_target(RequestKind.ACCOUNTING, {"version": 1}),
        audit=("rights.manage",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/patients/{patientId}/rights-requests/{requestId}/decision",
        OFFICERS,
        variants=PATIENT_VARIANTS,
        target=request_target(
            RequestKind.AMENDMENT,
            {"version": 1, "accept": True, "response": "Corrected as asked (synthetic)"},
        ),
        audit=("rights.manage",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/patients/{patientId}/rights-requests/{requestId}/disagreement",
        {**OFFICERS, P: (200, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=request_target(
            RequestKind.AMENDMENT,
            {"version": 1, "statement": "I disagree with the denial (synthetic)"},
            status=RequestStatus.DENIED,
            response="The record is accurate and complete (synthetic)",
        ),
        audit=("rights.disagree",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/patients/{patientId}/rights-requests/{requestId}/access",
        OFFICERS,
        variants=PATIENT_VARIANTS,
        target=request_target(RequestKind.ACCESS, {"version": 1}),
        audit=("rights.manage",),
        patient_scoped=True,
    ),
    Case(
        "GET",
        "/v1/patients/{patientId}/rights-requests/{requestId}/package/{packageFormat}",
        {
            OW: (200, 200, 404),
            A: (200, 200, 404),
            C: (200, 200, 404),
            F: (200, 200, 404),
            P: (200, 404, 404),
        },
        variants=PATIENT_VARIANTS,
        target=package_target,
        audit=("rights.read",),
        patient_scoped=True,
    ),
    Case("GET", "/v1/rights-requests", {OW: 200, C: 200}, audit=("rights.queue",)),
]

# Roles not listed get 403 (the action is not theirs); B holds none of these.
assert B not in {r for c in CASES for r in c.expect}

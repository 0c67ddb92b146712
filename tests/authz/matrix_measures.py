"""Authorization matrix rows for the measures routes (see matrix.py for the format).

Sending needs a patient with a care team (someone must read the result), so the "other"
patient here has one that does not include the caller. Portal routes target a request sent
to the variant's patient; params carry the patient id so the audit harness can check that
every event names the patient."""

from __future__ import annotations

from typing import Any

from matrix import (
    CL,
    OW,
    PATIENT_VARIANTS,
    PX,
    STAFF,
    A,
    Case,
    F,
    P,
    S,
    Target,
    every,
    patient,
)
from world import World

from tpm.domain.measures import MeasureFlag, MeasureRequest
from tpm.ids import new_id
from tpm.repositories.measures import MeasureRepository
from tpm.security.principal import Role

PHQ9 = {f"item_{n}": 1 for n in range(1, 10)}


def treated_patient(world: World, role: Role, variant: str) -> str:
    """Like `patient`, but the "other" patient has a care team (not the caller's)."""
    if variant == "other":
        return world.new_patient(world.a.id, care_team=[world.a.users[Role.FRONT_DESK].id])
    return patient(world, role, variant)


def patient_measure_target(body: Any = None, template_id: str | None = None) -> Target:
    def make(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
        params = {"patientId": treated_patient(world, role, variant)}
        if template_id is not None:
            params["templateId"] = template_id
        return params, body

    return make


def make_request(world: World, practice_id: str, patient_id: str) -> MeasureRequest:
    request = MeasureRequest(
        id=new_id("mrq"),
        patient_id=patient_id,
        template_id="phq9",
        template_version=1,
        requested_by="test-harness",
        created_at=world.runtime.clock.now(),
    )
    repo = MeasureRepository(world.runtime.store.practice(practice_id), world.runtime.cipher)
    world.system_write(practice_id, [repo.create_request_op(request)])
    return request


def request_target(body: Any = None) -> Target:
    def make(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
        pid = patient(world, role, variant)
        practice_id = world.b.id if variant == "foreign" else world.a.id
        request = make_request(world, practice_id, pid)
        return {"requestId": request.id, "patientId": pid}, body

    return make


def flag_target(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    """A risk flag raised for the variant's patient (a fresh one each call)."""
    pid = patient(world, role, variant)
    practice_id = world.b.id if variant == "foreign" else world.a.id
    now = world.runtime.clock.now()
    flag = MeasureFlag(
        id=new_id("mfl"),
        patient_id=pid,
        response_id=new_id("mrs"),
        template_id="phq9",
        flags=("item_9_positive",),
        raised_at=now,
        notified=(),
    )
    repo = MeasureRepository(world.runtime.store.practice(practice_id), world.runtime.cipher)
    world.system_write(practice_id, repo.create_flag_ops(flag))
    return {"flagId": flag.id, "patientId": pid}, {"note": "Called the patient; safe."}


OFFICE = {OW: (200, 200, 404), A: (200, 200, 404), F: (200, 200, 404)}
CLINICAL_READ = {CL: (200, 404, 404), S: (200, 404, 404)}

CASES: list[Case] = [
    Case(
        "POST",
        "/v1/patients/{patientId}/measure-requests",
        # A supervisor sends only for their own care team, not their supervisees'.
        {OW: (201, 201, 404), A: (201, 201, 404), F: (201, 201, 404), CL: (201, 404, 404), S: 404},
        variants=PATIENT_VARIANTS,
        target=patient_measure_target({"template_id": "phq9"}),
        audit=("measure.request.create",),
        patient_scoped=True,
    ),
    Case(
        "GET",
        "/v1/patients/{patientId}/measure-requests",
        {**OFFICE, **CLINICAL_READ, P: (200, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=patient_measure_target(),
        audit=("measure.request.list",),
        patient_scoped=True,
    ),
    Case(
        "GET",
        "/v1/patients/{patientId}/measures/{templateId}/series",
        CLINICAL_READ,
        variants=PATIENT_VARIANTS,
        target=patient_measure_target(template_id="phq9"),
        audit=("measure.series.read",),
        patient_scoped=True,
    ),
    Case(
        "GET",
        "/v1/patients/{patientId}/measures/{templateId}/chart",
        CLINICAL_READ,
        variants=PATIENT_VARIANTS,
        target=patient_measure_target(template_id="phq9"),
        audit=("measure.series.read",),
        patient_scoped=True,
    ),
    Case("GET", "/v1/measure-flags", {CL: 200, S: 200}, audit=("measure.flag.list",)),
    Case(
        "POST",
        "/v1/measure-flags/{flagId}/acknowledge",
        CLINICAL_READ,
        variants=PATIENT_VARIANTS,
        target=flag_target,
        audit=("measure.flag.acknowledge",),
        patient_scoped=True,
    ),
    Case(
        "GET",
        "/v1/me/measure-requests",
        {**every(404, [*STAFF, PX]), P: 200},
        audit=("measure.request.list",),
    ),
    Case(
        "GET",
        "/v1/me/measure-requests/{requestId}",
        {P: (200, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=request_target(),
        audit=("measure.request.read",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/me/measure-requests/{requestId}/responses",
        {P: (201, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=request_target({"answers": PHQ9}),
        audit=("measure.response.submit",),
        patient_scoped=True,
    ),
]

"""Authorization matrix rows for the patients routes (see matrix.py for the format)."""

from __future__ import annotations

import secrets
from datetime import date
from typing import Any

from matrix import CL, OW, PATIENT_VARIANTS, A, B, C, Case, F, P, S, fixed
from world import World

from tpm.adapters.store.base import Operation
from tpm.domain.patients import Patient
from tpm.ids import new_id
from tpm.repositories.patients import PatientRepository
from tpm.repositories.relationships import StoreRelationships
from tpm.security.principal import Role


def patient_with_own_email(world: World, practice_id: str, care_team: list[str]) -> str:
    """A patient with an address no account uses yet (one account per email per practice)."""
    store = world.runtime.store.practice(practice_id)
    now = world.runtime.clock.now()
    patient = Patient(
        id=new_id("pat"),
        legal_first_name="Invitee",
        legal_last_name="Synthetic",
        date_of_birth=date(1980, 2, 2),
        email=f"invitee-{secrets.token_hex(6)}@example.test",
        created_at=now,
        created_by="test-harness",
    )
    ops: list[Operation] = [*PatientRepository(store, world.runtime.cipher).create_ops(patient)]
    ops += [StoreRelationships.add_member_op(patient.id, uid, now) for uid in care_team]
    world.system_write(practice_id, ops)
    return patient.id


def invitation_target(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    if variant == "foreign":
        return {"patientId": patient_with_own_email(world, world.b.id, [])}, {}
    team = [world.a.users[Role.CLINICIAN].id] if variant == "own" else []
    return {"patientId": patient_with_own_email(world, world.a.id, team)}, {}


CASES: list[Case] = [
    Case(
        "POST",
        "/v1/patients/search",
        {OW: 200, A: 200, F: 200, B: 200, CL: 200, S: 200, C: 403, P: 403},
        target=fixed({"name": "Testy McPatient"}),
        audit=("patient.search",),
    ),
    Case(
        "POST",
        "/v1/patients/{patientId}/portal-invitation",
        {
            OW: (201, 201, 404),
            A: (201, 201, 404),
            F: (201, 201, 404),
            CL: (201, 404, 404),
            S: 403,
            B: 403,
            C: 403,
            P: 403,
        },
        variants=PATIENT_VARIANTS,
        target=invitation_target,
        audit=("patient.portal_invite",),
        patient_scoped=True,
    ),
]

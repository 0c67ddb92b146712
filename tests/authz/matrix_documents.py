"""Authorization matrix rows for the documents routes (see matrix.py for the format).

Targets are documents of the variant's patient ("own" for a patient is a document of their
own record that was shared with them; unshared ones are tested in
tests/integration/test_documents.py). Params carry the patient id so the audit harness can
check that every event names the patient the document belongs to."""

from __future__ import annotations

import base64
from collections.abc import Callable
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
    patient_target,
)
from world import World

from tpm.domain.documents import Document
from tpm.ids import new_id
from tpm.repositories.documents import DocumentRepository
from tpm.security.principal import Role

PDF = b"%PDF-1.4\n% synthetic test document\n%%EOF\n"


class LocalFolder:
    """The harness keeps files in a local folder, which sends nothing out and asks nobody."""

    def require(self, vendor: str, *, carries_phi: bool) -> None:
        raise AssertionError("a local folder does not ask the business associate register")


def make_document(world: World, practice_id: str, patient_id: str, *, shared: bool) -> Document:
    """A stored document (file and metadata) as an upload would leave it."""
    now = world.runtime.clock.now()
    document = Document(
        id=new_id("doc"),
        patient_id=patient_id,
        title="Letter (synthetic)",
        filename="letter.pdf",
        content_type="application/pdf",
        size_bytes=len(PDF),
        shared_with_patient=shared,
        shared_at=now if shared else None,
        shared_by="test-harness" if shared else None,
        uploaded_by="test-harness",
        created_at=now,
        updated_at=now,
    )
    world.runtime.files.put(practice_id, document.id, PDF, guard=LocalFolder())
    repo = DocumentRepository(world.runtime.store.practice(practice_id), world.runtime.cipher)
    world.system_write(practice_id, [repo.create_op(document)])
    return document


def document_target(
    *, shared: bool = True, body: Callable[[Document], Any] | None = None
) -> Target:
    def make(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
        pid = patient(world, role, variant)
        practice_id = world.b.id if variant == "foreign" else world.a.id
        document = make_document(world, practice_id, pid, shared=shared)
        return {"documentId": document.id, "patientId": pid}, body(document) if body else None

    return make


UPLOAD_BODY = {
    "title": "Intake packet (synthetic)",
    "filename": "intake.pdf",
    "content_type": "application/pdf",
    "content_base64": base64.b64encode(PDF).decode(),
    "shared_with_patient": False,
}
PRACTICE_OR_TEAM = {
    OW: (200, 200, 404),
    A: (200, 200, 404),
    CL: (200, 404, 404),
}

CASES: list[Case] = [
    Case(
        "POST",
        "/v1/patients/{patientId}/documents",
        {OW: (201, 201, 404), A: (201, 201, 404), F: (201, 201, 404), CL: (201, 404, 404), S: 404},
        variants=PATIENT_VARIANTS,
        target=patient_target(lambda w, pid: UPLOAD_BODY),
        audit=("document.upload",),
        patient_scoped=True,
    ),
    Case(
        "GET",
        "/v1/patients/{patientId}/documents",
        {**PRACTICE_OR_TEAM, F: (200, 200, 404), S: (200, 404, 404), P: (200, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=patient_target(),
        audit=("document.list",),
        patient_scoped=True,
    ),
    Case(
        "GET",
        "/v1/me/documents",
        {**every(404, [*STAFF, PX]), P: 200},
        audit=("document.list",),
    ),
    Case(
        "GET",
        "/v1/documents/{documentId}",
        {**PRACTICE_OR_TEAM, F: (200, 200, 404), S: (200, 404, 404), P: (200, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=document_target(),
        audit=("document.read",),
        patient_scoped=True,
    ),
    Case(
        "GET",
        "/v1/documents/{documentId}/content",
        {**PRACTICE_OR_TEAM, S: (200, 404, 404), P: (200, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=document_target(),
        audit=("document.content.read",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/documents/{documentId}/share",
        {**PRACTICE_OR_TEAM, S: 404},
        variants=PATIENT_VARIANTS,
        target=document_target(shared=False, body=lambda d: {"version": d.version}),
        audit=("document.share",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/documents/{documentId}/unshare",
        {**PRACTICE_OR_TEAM, S: 404},
        variants=PATIENT_VARIANTS,
        target=document_target(shared=True, body=lambda d: {"version": d.version}),
        audit=("document.share",),
        patient_scoped=True,
    ),
]

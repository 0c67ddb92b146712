"""Authorization matrix rows for the compliance routes: the business associate / vendor
register and security incidents (see matrix.py for the format).

Targets are written straight through the repositories as a system actor: "own" in the
caller's practice, "foreign" in the other one (always 404). Every case gets a fresh record,
so no role's call disturbs the next one's."""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime
from typing import Any

from matrix import (
    CL,
    OW,
    PATIENT_VARIANTS,
    STAFF,
    A,
    B,
    C,
    Case,
    F,
    P,
    S,
    Target,
    every,
    patient,
    patient_target,
)
from matrix_documents import LocalFolder
from world import World

from tpm.domain.access_reviews import AccessReview
from tpm.domain.incidents import (
    Determination,
    Incident,
    IncidentSource,
    RiskAssessment,
    RiskFactor,
    RiskLevel,
)
from tpm.domain.part2 import Part2Consent, Purpose, Recipient, RecipientKind
from tpm.domain.vendors import DueDiligenceDocument, Vendor, VendorRole
from tpm.ids import new_id
from tpm.repositories.access_reviews import AccessReviewRepository
from tpm.repositories.incidents import IncidentRepository
from tpm.repositories.part2 import Part2Repository
from tpm.repositories.vendors import VendorRepository
from tpm.security.principal import Role

VARIANTS = ("own", "foreign")
PDF = b"%PDF-1.4\n% synthetic due diligence\n%%EOF\n"
REGISTER_READERS = {OW: (200, 404), A: (200, 404), C: (200, 404)}
OFFICERS = {OW: (200, 404), C: (200, 404)}


def _practice(world: World, variant: str) -> str:
    return world.a.id if variant == "own" else world.b.id


def stored_vendor(world: World, variant: str) -> Vendor:
    practice_id = _practice(world, variant)
    now = world.runtime.clock.now()
    vendor = Vendor(
        id=new_id("vnd"),
        key=f"v-{secrets.token_hex(6)}",
        name="Matrix Vendor (synthetic)",
        role=VendorRole.INTEGRATION,
        receives_phi=False,
        created_at=now,
        updated_at=now,
        updated_by="test-harness",
    )
    world.system_write(practice_id, list(VendorRepository.create_ops(vendor)))
    return vendor


def vendor_target(body: Any = None) -> Target:
    def make(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
        vendor = stored_vendor(world, variant)
        return {"vendorId": vendor.id}, body(vendor) if callable(body) else body

    return make


def vendor_document_target(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    practice_id = _practice(world, variant)
    vendor = stored_vendor(world, variant)
    document = DueDiligenceDocument(
        id=new_id("vdd"),
        vendor_id=vendor.id,
        title="SOC 2 report (synthetic)",
        filename="soc2.pdf",
        content_type="application/pdf",
        size_bytes=len(PDF),
        sha256="0" * 64,
        uploaded_by="test-harness",
        uploaded_at=world.runtime.clock.now(),
    )
    world.runtime.files.put(practice_id, document.id, PDF, guard=LocalFolder())
    repo = VendorRepository(world.runtime.store.practice(practice_id), world.runtime.cipher)
    world.system_write(practice_id, [repo.document_op(document)])
    return {"vendorId": vendor.id, "documentId": document.id}, None


def stored_incident(world: World, variant: str, *, breach: bool = False) -> Incident:
    practice_id = _practice(world, variant)
    now = world.runtime.clock.now()
    low = RiskFactor(level=RiskLevel.LOW)
    incident = Incident(
        id=new_id("inc"),
        source=IncidentSource.MANUAL,
        summary="Matrix incident (synthetic)",
        discovered_at=now,
        reported_at=now,
        reported_by="test-harness",
        assessment=RiskAssessment(
            nature_and_extent=low,
            unauthorized_person=low,
            acquired_or_viewed=low,
            mitigation=low,
            determination=Determination.BREACH if breach else Determination.NOT_A_BREACH,
            assessed_by="test-harness",
            assessed_at=now,
        ),
    )
    repo = IncidentRepository(world.runtime.store.practice(practice_id), world.runtime.cipher)
    world.system_write(practice_id, list(repo.create_ops(incident)))
    return incident


def incident_target(body: Any = None, *, breach: bool = False) -> Target:
    def make(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
        incident = stored_incident(world, variant, breach=breach)
        return {"incidentId": incident.id}, body

    return make


def stored_review(world: World, variant: str) -> AccessReview:
    practice_id = _practice(world, variant)
    now = world.runtime.clock.now()
    review = AccessReview(
        id=new_id("arv"),
        period_from=now,
        started_at=now,
        started_by="test-harness",
        users=(),
        uses=(),
    )
    repo = AccessReviewRepository(world.runtime.store.practice(practice_id), world.runtime.cipher)
    world.system_write(practice_id, [repo.create_op(review)])
    return review


def review_target(body: Any = None) -> Target:
    def make(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
        return {"reviewId": stored_review(world, variant).id}, body

    return make


def new_vendor_body(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    return {}, {
        "key": f"v-{secrets.token_hex(6)}",
        "name": "New Vendor (synthetic)",
        "role": "integration",
        "receives_phi": False,
    }


def consent_target(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    """A recorded Part 2 consent of the variant's patient."""
    pid = patient(world, role, variant)
    practice_id = world.b.id if variant == "foreign" else world.a.id
    now = world.runtime.clock.now()
    consent = Part2Consent(
        id=new_id("p2c"),
        patient_id=pid,
        patient_name="Testy McPatient",
        disclosing_program="Matrix SUD program (synthetic)",
        information="Diagnosis and dates of substance use disorder treatment",
        recipients=(Recipient(kind=RecipientKind.PAYER, name="My health plans"),),
        purposes=(Purpose.PAYMENT,),
        purpose_description="Claims for payment",
        expires_on=now.date().replace(year=now.year + 1),
        signed_by="Testy McPatient",
        signed_on=now.date(),
        revocation_statement_given=True,
        redisclosure_statement_given=True,
        not_conditioned_statement_given=True,
        recorded_by="test-harness",
        recorded_at=now,
    )
    repo = Part2Repository(world.runtime.store.practice(practice_id), world.runtime.cipher)
    world.system_write(practice_id, [repo.consent_op(consent)])
    return {"patientId": pid, "consentId": consent.id}, {"version": 1}


CONSENT_BODY = {
    "disclosing_program": "Matrix SUD program (synthetic)",
    "information": "Diagnosis and dates of substance use disorder treatment",
    "recipients": [{"kind": "payer", "name": "My health plans and third-party payers"}],
    "purposes": ["payment"],
    "purpose_description": "Claims for payment of my treatment",
    "expiration_event": "End of treatment",
    "signed_by": "Testy McPatient",
    "signed_on": "2026-01-02",
    "statements_given": True,
}
TEAM_OR_PRACTICE = {
    OW: (200, 200, 404),
    A: (200, 200, 404),
    CL: (200, 404, 404),
    S: (200, 404, 404),
}

FACTOR = {"level": "low", "notes": ""}
ASSESSMENT = {
    "version": 1,
    "nature_and_extent": FACTOR,
    "unauthorized_person": FACTOR,
    "acquired_or_viewed": FACTOR,
    "mitigation": FACTOR,
    "determination": "not_a_breach",
}
TODAY = datetime.now(UTC).date().isoformat()

CASES: list[Case] = [
    # -- 42 CFR Part 2 --
    Case(
        "GET",
        "/v1/patients/{patientId}/part2",
        {**TEAM_OR_PRACTICE, B: (200, 200, 404), F: (200, 200, 404), P: (200, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=patient_target(),
        audit=("part2.read",),
        patient_scoped=True,
    ),
    Case(
        "PUT",
        "/v1/patients/{patientId}/part2",
        {**TEAM_OR_PRACTICE, S: 404},
        variants=PATIENT_VARIANTS,
        target=patient_target(lambda w, pid: {"part2": True, "program": "SUD program"}),
        audit=("part2.label",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/patients/{patientId}/part2/consents",
        {
            OW: (201, 201, 404),
            A: (201, 201, 404),
            F: (201, 201, 404),
            CL: (201, 404, 404),
            S: 404,
        },
        variants=PATIENT_VARIANTS,
        target=patient_target(lambda w, pid: CONSENT_BODY),
        audit=("part2.consent.record",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/patients/{patientId}/part2/consents/{consentId}/revoke",
        {**TEAM_OR_PRACTICE, S: 404, F: (200, 200, 404), P: (200, 404, 404)},
        variants=PATIENT_VARIANTS,
        target=consent_target,
        audit=("part2.consent.revoke",),
        patient_scoped=True,
    ),
    # -- the business associate / vendor register --
    Case("GET", "/v1/vendors", {OW: 200, A: 200, C: 200}, audit=("vendor.read",)),
    Case(
        "POST", "/v1/vendors", {OW: 201, C: 201}, target=new_vendor_body, audit=("vendor.manage",)
    ),
    Case(
        "GET",
        "/v1/vendors/{vendorId}",
        REGISTER_READERS,
        variants=VARIANTS,
        target=vendor_target(),
        audit=("vendor.read",),
    ),
    Case(
        "PATCH",
        "/v1/vendors/{vendorId}",
        OFFICERS,
        variants=VARIANTS,
        target=vendor_target(lambda v: {"version": v.version, "notes": "Reviewed (synthetic)"}),
        audit=("vendor.manage",),
    ),
    Case(
        "POST",
        "/v1/vendors/{vendorId}/documents",
        {OW: (201, 404), C: (201, 404)},
        variants=VARIANTS,
        target=vendor_target(
            {
                "title": "Signed BAA (synthetic)",
                "filename": "baa.pdf",
                "content_type": "application/pdf",
                "content_base64": base64.b64encode(PDF).decode(),
            }
        ),
        audit=("vendor.manage",),
    ),
    Case(
        "GET",
        "/v1/vendors/{vendorId}/documents/{documentId}/content",
        REGISTER_READERS,
        variants=VARIANTS,
        target=vendor_document_target,
        audit=("vendor.read",),
    ),
    # -- security incidents --
    Case("GET", "/v1/incidents", {OW: 200, C: 200}, audit=("incident.read",)),
    Case(
        "POST",
        "/v1/incidents",
        {**every(201, STAFF), P: 403},
        target=lambda w, r, v: ({}, {"summary": "Matrix report (synthetic)"}),
        audit=("incident.report",),
    ),
    Case(
        "GET",
        "/v1/incidents/{incidentId}",
        OFFICERS,
        variants=VARIANTS,
        target=incident_target(),
        audit=("incident.read",),
    ),
    Case(
        "PATCH",
        "/v1/incidents/{incidentId}",
        OFFICERS,
        variants=VARIANTS,
        target=incident_target({"version": 1, "affected_count": 3}),
        audit=("incident.manage",),
    ),
    Case(
        "POST",
        "/v1/incidents/{incidentId}/assessment",
        OFFICERS,
        variants=VARIANTS,
        target=incident_target(ASSESSMENT),
        audit=("incident.manage",),
    ),
    Case(
        "POST",
        "/v1/incidents/{incidentId}/notifications",
        OFFICERS,
        variants=VARIANTS,
        target=incident_target(
            {"version": 1, "kind": "individuals", "sent_on": TODAY}, breach=True
        ),
        audit=("incident.manage",),
    ),
    Case(
        "POST",
        "/v1/incidents/{incidentId}/close",
        OFFICERS,
        variants=VARIANTS,
        target=incident_target({"version": 1, "reason": "Not a breach (synthetic)"}),
        audit=("incident.manage",),
    ),
    # -- access reviews --
    Case("GET", "/v1/access-reviews", {OW: 200, C: 200}, audit=("access_review.read",)),
    Case(
        "POST",
        "/v1/access-reviews",
        {OW: 201, C: 201},
        target=lambda w, r, v: ({}, {}),
        audit=("access_review.manage",),
    ),
    Case(
        "GET",
        "/v1/access-reviews/{reviewId}",
        OFFICERS,
        variants=VARIANTS,
        target=review_target(),
        audit=("access_review.read",),
    ),
    Case(
        "POST",
        "/v1/access-reviews/{reviewId}/decisions",
        OFFICERS,
        variants=VARIANTS,
        target=review_target({"version": 1}),
        audit=("access_review.manage",),
    ),
    Case(
        "POST",
        "/v1/access-reviews/{reviewId}/sign-off",
        OFFICERS,
        variants=VARIANTS,
        target=review_target({"version": 1, "summary": "Nothing to change (synthetic)"}),
        audit=("access_review.manage",),
    ),
]

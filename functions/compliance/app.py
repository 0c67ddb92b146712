"""Compliance: the business associate / vendor register, security incidents, 42 CFR Part 2
labels and consents, and patients' rights (disclosures, access, amendment, accounting)."""

from __future__ import annotations

import base64
import binascii
from datetime import date, datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, Field, Strict

from tpm.api.app import create_app, lambda_entry
from tpm.api.context import Cursor, Limit, service_context
from tpm.api.idempotency import idempotent
from tpm.api.models import Instant, IsoDate, RequestModel
from tpm.api.responses import created, created_doc
from tpm.api.views import Page
from tpm.domain.access_reviews import AccessReview, UserDecision, UseVerdict
from tpm.domain.documents import FILENAME, MAX_DOCUMENT_BYTES, ContentType
from tpm.domain.incidents import (
    Determination,
    Incident,
    NotificationKind,
    RiskFactor,
    RiskLevel,
    deadlines,
    notification_deadline,
)
from tpm.domain.part2 import (
    NOT_CONDITIONED_STATEMENT,
    REDISCLOSURE_NOTICE,
    REVOCATION_STATEMENT,
    Part2Consent,
    Purpose,
    Recipient,
    RecipientKind,
)
from tpm.domain.rights import (
    Disclosure,
    DisclosureBasis,
    DisclosureSource,
    PackageFormat,
    RequestKind,
    RightsRequest,
    accounting_period,
)
from tpm.domain.vendors import VENDOR_KEY, Agreement, AgreementStatus, VendorRole
from tpm.errors import NotFound, PayloadTooLarge, ValidationFailed
from tpm.services.access_reviews import AccessReviewService
from tpm.services.incidents import IncidentEdit, IncidentService
from tpm.services.part2 import Part2Service, part2_today
from tpm.services.rights import RightsService, practice_today
from tpm.services.vendors import VendorFields, VendorRead, VendorService

app = create_app("compliance")
VENDOR_TAGS = ["vendors"]
INCIDENT_TAGS = ["incidents"]
PATIENT_ID = r"^pat_[0-9a-z]{26}$"
MAX_BASE64_CHARS = (MAX_DOCUMENT_BYTES + 2) // 3 * 4 + 4096
ServiceCode = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")]


# ---- vendors: requests ------------------------------------------------------------------


class AgreementIn(RequestModel):
    status: Annotated[AgreementStatus, Strict(False)] = AgreementStatus.NONE
    executed_on: IsoDate | None = None
    effective_on: IsoDate | None = None
    expires_on: IsoDate | None = Field(default=None, description="Omit for no end date.")
    terminated_on: IsoDate | None = None
    breach_notice_days: int | None = Field(
        default=None, ge=1, le=60, description="Days the vendor has to report a breach to us."
    )
    permitted_uses: str = Field(default="", max_length=4000)
    subcontractor_terms: str = Field(default="", max_length=4000)
    return_destruction_terms: str = Field(default="", max_length=4000)

    def model(self) -> Agreement:
        try:
            return Agreement.model_validate(self.model_dump())
        except ValueError as exc:
            raise ValidationFailed(
                fields=[{"path": "body.agreement", "type": "inconsistent_dates"}]
            ) from exc


class VendorIn(RequestModel):
    key: str = Field(
        pattern=VENDOR_KEY,
        description="The short name adapters use for this vendor (e.g. `aws`); fixed.",
    )
    name: str = Field(min_length=1, max_length=200)
    role: Annotated[VendorRole, Strict(False)]
    receives_phi: bool
    services: list[ServiceCode] = Field(default_factory=list, max_length=50)
    contact: str = Field(default="", max_length=500)
    notes: str = Field(default="", max_length=4000)
    agreement: AgreementIn = Field(default_factory=AgreementIn)

    def fields(self) -> VendorFields:
        return VendorFields(
            name=self.name,
            role=self.role,
            receives_phi=self.receives_phi,
            services=tuple(self.services),
            contact=self.contact,
            notes=self.notes,
            agreement=self.agreement.model(),
        )


class VendorPatchIn(RequestModel):
    version: int = Field(ge=1, description="The version you loaded (409 if it changed).")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    role: Annotated[VendorRole, Strict(False)] | None = None
    receives_phi: bool | None = None
    services: list[ServiceCode] | None = Field(default=None, max_length=50)
    contact: str | None = Field(default=None, max_length=500)
    notes: str | None = Field(default=None, max_length=4000)
    agreement: AgreementIn | None = Field(
        default=None, description="The whole agreement as it is now."
    )

    def changes(self) -> dict[str, Any]:
        sent = self.model_dump(exclude={"version"}, exclude_unset=True)
        for name in ("name", "role", "receives_phi", "services", "contact", "notes", "agreement"):
            if name in sent and sent[name] is None:
                raise ValidationFailed(fields=[{"path": f"body.{name}", "type": "not_nullable"}])
        if self.agreement is not None:
            sent["agreement"] = self.agreement.model()
        if "services" in sent:
            sent["services"] = tuple(sent["services"])
        return sent


class DueDiligenceIn(RequestModel):
    title: str = Field(min_length=1, max_length=200)
    filename: str = Field(max_length=200, pattern=FILENAME)
    content_type: ContentType
    content_base64: str = Field(min_length=4)


# ---- vendors: views ---------------------------------------------------------------------


class AgreementView(BaseModel):
    status: str
    executed_on: date | None
    effective_on: date | None
    expires_on: date | None
    terminated_on: date | None
    breach_notice_days: int | None
    permitted_uses: str
    subcontractor_terms: str
    return_destruction_terms: str


class DueDiligenceView(BaseModel):
    id: str
    title: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime


class VendorView(BaseModel):
    id: str
    key: str
    name: str
    role: str
    receives_phi: bool
    services: list[str]
    contact: str
    notes: str
    agreement: AgreementView
    phi_allowed: bool = Field(description="PHI may go to this vendor today.")
    days_left: int | None = Field(description="Days until the agreement ends, if it does.")
    expiry_warning: int | None = Field(description="The warning threshold reached (days).")
    documents: list[DueDiligenceView]
    created_at: datetime
    updated_at: datetime
    updated_by: str
    version: int

    @classmethod
    def of(cls, read: VendorRead, phi_allowed: bool) -> VendorView:
        v = read.vendor
        return cls(
            **v.model_dump(include={"id", "key", "name", "contact", "notes", "receives_phi"}),
            role=v.role.value,
            services=list(v.services),
            agreement=AgreementView.model_validate(v.agreement.model_dump(mode="json")),
            phi_allowed=phi_allowed,
            days_left=read.days_left,
            expiry_warning=read.warning,
            documents=[DueDiligenceView.model_validate(d.model_dump()) for d in read.documents],
            created_at=v.created_at,
            updated_at=v.updated_at,
            updated_by=v.updated_by,
            version=v.version,
        )


class FileOut(BaseModel):
    filename: str
    content_type: str
    size_bytes: int
    content_base64: str


def _decode(text: str) -> bytes:
    if len(text) > MAX_BASE64_CHARS:
        raise PayloadTooLarge(limit_bytes=MAX_DOCUMENT_BYTES)
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationFailed(fields=[{"path": "body.content_base64", "type": "base64"}]) from exc


def _vendor_view(service: VendorService, read: VendorRead) -> VendorView:
    allowed = service.ctx.outbound.problem(read.vendor.key, carries_phi=True) is None
    return VendorView.of(read, allowed)


# ---- vendors: routes --------------------------------------------------------------------


@app.get("/v1/vendors", summary="The business associate / vendor register", tags=VENDOR_TAGS)
def list_vendors(limit: Limit = 25, cursor: Cursor = None) -> Page[VendorView]:
    service = VendorService(service_context(app))
    reads, next_cursor = service.list(limit, cursor)
    return Page[VendorView](
        items=[_vendor_view(service, r) for r in reads], next_cursor=next_cursor
    )


@app.post(
    "/v1/vendors",
    summary="Add a vendor to the register",
    tags=VENDOR_TAGS,
    responses=created_doc(VendorView),
    middlewares=[idempotent],
)
def create_vendor(body: VendorIn) -> Response[str]:
    service = VendorService(service_context(app))
    vendor = service.create(body.key, body.fields())
    return created(_vendor_view(service, service.get(vendor.id)), f"/v1/vendors/{vendor.id}")


@app.get("/v1/vendors/<vendorId>", summary="A vendor, its agreement and files", tags=VENDOR_TAGS)
def get_vendor(vendorId: str) -> VendorView:  # noqa: N803
    service = VendorService(service_context(app))
    return _vendor_view(service, service.get(vendorId))


@app.patch("/v1/vendors/<vendorId>", summary="Change a vendor or its agreement", tags=VENDOR_TAGS)
def update_vendor(vendorId: str, body: VendorPatchIn) -> VendorView:  # noqa: N803
    service = VendorService(service_context(app))
    vendor = service.update(vendorId, body.version, body.changes())
    return _vendor_view(service, service.get(vendor.id))


@app.post(
    "/v1/vendors/<vendorId>/documents",
    summary="Keep a due-diligence file (stored encrypted)",
    tags=VENDOR_TAGS,
    responses=created_doc(DueDiligenceView),
    middlewares=[idempotent],
)
def add_vendor_document(vendorId: str, body: DueDiligenceIn) -> Response[str]:  # noqa: N803
    document = VendorService(service_context(app)).add_document(
        vendorId, body.title, body.filename, body.content_type, _decode(body.content_base64)
    )
    return created(
        DueDiligenceView.model_validate(document.model_dump()),
        f"/v1/vendors/{vendorId}/documents/{document.id}/content",
    )


@app.get(
    "/v1/vendors/<vendorId>/documents/<documentId>/content",
    summary="A due-diligence file, base64 in JSON",
    tags=VENDOR_TAGS,
)
def vendor_document_content(vendorId: str, documentId: str) -> FileOut:  # noqa: N803
    document, data = VendorService(service_context(app)).document_content(vendorId, documentId)
    return FileOut(
        filename=document.filename,
        content_type=document.content_type,
        size_bytes=document.size_bytes,
        content_base64=base64.b64encode(data).decode("ascii"),
    )


# ---- incidents: requests ----------------------------------------------------------------


class IncidentIn(RequestModel):
    summary: str = Field(min_length=1, max_length=300)
    details: str = Field(default="", max_length=20_000)
    discovered_at: Instant | None = Field(
        default=None, description="When it was first known (RFC 3339); default now."
    )
    patient_ids: list[Annotated[str, Field(pattern=PATIENT_ID)]] = Field(
        default_factory=list, max_length=1000
    )
    affected_count: int | None = Field(default=None, ge=0, le=100_000_000)


class IncidentPatchIn(RequestModel):
    version: int = Field(ge=1)
    summary: str | None = Field(default=None, min_length=1, max_length=300)
    details: str | None = Field(default=None, max_length=20_000)
    discovered_at: Instant | None = None
    patient_ids: list[Annotated[str, Field(pattern=PATIENT_ID)]] | None = Field(
        default=None, max_length=1000
    )
    affected_count: int | None = Field(default=None, ge=0, le=100_000_000)


class FactorIn(RequestModel):
    level: Annotated[RiskLevel, Strict(False)]
    notes: str = Field(default="", max_length=4000)


class AssessmentIn(RequestModel):
    """The four factors of 45 CFR 164.402(2) and the officer's determination."""

    version: int = Field(ge=1)
    nature_and_extent: FactorIn = Field(description="The PHI involved; re-identification.")
    unauthorized_person: FactorIn = Field(description="Who used or received it.")
    acquired_or_viewed: FactorIn = Field(description="Was it actually acquired or viewed?")
    mitigation: FactorIn = Field(description="How far the risk has been mitigated.")
    determination: Annotated[Determination, Strict(False)]
    rationale: str = Field(default="", max_length=8000)


class NotificationIn(RequestModel):
    version: int = Field(ge=1)
    kind: Annotated[NotificationKind, Strict(False)]
    sent_on: IsoDate
    recipients: int | None = Field(default=None, ge=0)
    method: str = Field(default="", max_length=200)
    notes: str = Field(default="", max_length=4000)


class CloseIn(RequestModel):
    version: int = Field(ge=1)
    reason: str = Field(default="", max_length=4000)


# ---- incidents: views -------------------------------------------------------------------


class FactorView(BaseModel):
    level: str
    notes: str


class AssessmentView(BaseModel):
    nature_and_extent: FactorView
    unauthorized_person: FactorView
    acquired_or_viewed: FactorView
    mitigation: FactorView
    determination: str
    rationale: str
    assessed_by: str
    assessed_at: datetime


class NotificationView(BaseModel):
    kind: str
    sent_on: date
    recipients: int | None
    method: str
    notes: str
    recorded_by: str
    recorded_at: datetime


class DeadlineView(BaseModel):
    kind: str
    due: date
    done_on: date | None
    overdue: bool


class IncidentView(BaseModel):
    id: str
    source: str
    reference: str | None
    summary: str
    details: str
    discovered_at: datetime
    reported_at: datetime
    reported_by: str
    patient_ids: list[str]
    affected_count: int | None
    status: str
    determination: str
    assessment: AssessmentView | None
    notifications: list[NotificationView]
    notification_deadline: date
    deadlines: list[DeadlineView]
    closed_at: datetime | None
    closed_by: str | None
    close_reason: str
    version: int

    @classmethod
    def of(cls, incident: Incident, today: date) -> IncidentView:
        data = incident.model_dump(mode="json", exclude={"dedupe_key", "vendor_id"})
        return cls.model_validate(
            data
            | {
                "determination": incident.determination.value,
                "notification_deadline": notification_deadline(incident),
                "deadlines": [
                    DeadlineView(
                        kind=d.kind.value, due=d.due, done_on=d.done_on, overdue=d.overdue(today)
                    )
                    for d in deadlines(incident)
                ],
            }
        )


def _incident_view(service: IncidentService, incident: Incident) -> IncidentView:
    return IncidentView.of(incident, service.ctx.outbound.today)


# ---- incidents: routes ------------------------------------------------------------------


@app.get("/v1/incidents", summary="Security incidents, newest first", tags=INCIDENT_TAGS)
def list_incidents(
    status: Annotated[str | None, Query(pattern=r"^open$", description="`open` only")] = None,
    limit: Limit = 25,
    cursor: Cursor = None,
) -> Page[IncidentView]:
    service = IncidentService(service_context(app))
    items, next_cursor = service.list(limit, cursor, open_only=status == "open")
    return Page[IncidentView](
        items=[_incident_view(service, i) for i in items], next_cursor=next_cursor
    )


@app.post(
    "/v1/incidents",
    summary="Report a security incident",
    tags=INCIDENT_TAGS,
    responses=created_doc(IncidentView),
    middlewares=[idempotent],
)
def report_incident(body: IncidentIn) -> Response[str]:
    service = IncidentService(service_context(app))
    incident = service.report(
        summary=body.summary,
        details=body.details,
        discovered_at=body.discovered_at,
        patient_ids=body.patient_ids,
        affected_count=body.affected_count,
    )
    return created(_incident_view(service, incident), f"/v1/incidents/{incident.id}")


@app.get("/v1/incidents/<incidentId>", summary="One incident", tags=INCIDENT_TAGS)
def get_incident(incidentId: str) -> IncidentView:  # noqa: N803
    service = IncidentService(service_context(app))
    return _incident_view(service, service.get(incidentId))


@app.patch("/v1/incidents/<incidentId>", summary="Correct an open incident", tags=INCIDENT_TAGS)
def edit_incident(incidentId: str, body: IncidentPatchIn) -> IncidentView:  # noqa: N803
    service = IncidentService(service_context(app))
    sent = body.model_dump(exclude={"version"}, exclude_unset=True)
    edit = IncidentEdit(
        summary=body.summary,
        details=body.details,
        discovered_at=body.discovered_at,
        patient_ids=tuple(body.patient_ids) if body.patient_ids is not None else None,
        affected_count=body.affected_count,
    )
    return _incident_view(service, service.edit(incidentId, body.version, edit, set(sent)))


@app.post(
    "/v1/incidents/<incidentId>/assessment",
    summary="Record the four-factor risk assessment and determination",
    tags=INCIDENT_TAGS,
)
def assess_incident(incidentId: str, body: AssessmentIn) -> IncidentView:  # noqa: N803
    service = IncidentService(service_context(app))
    factors = {
        name: RiskFactor(level=getattr(body, name).level, notes=getattr(body, name).notes)
        for name in ("nature_and_extent", "unauthorized_person", "acquired_or_viewed", "mitigation")
    }
    incident = service.assess(incidentId, body.version, factors, body.determination, body.rationale)
    return _incident_view(service, incident)


@app.post(
    "/v1/incidents/<incidentId>/notifications",
    summary="Record a breach notice sent (individuals, HHS, media)",
    tags=INCIDENT_TAGS,
)
def record_notification(incidentId: str, body: NotificationIn) -> IncidentView:  # noqa: N803
    service = IncidentService(service_context(app))
    incident = service.notify(
        incidentId,
        body.version,
        body.kind,
        body.sent_on,
        body.recipients,
        body.method,
        body.notes,
    )
    return _incident_view(service, incident)


@app.post("/v1/incidents/<incidentId>/close", summary="Close an incident", tags=INCIDENT_TAGS)
def close_incident(incidentId: str, body: CloseIn) -> IncidentView:  # noqa: N803
    service = IncidentService(service_context(app))
    return _incident_view(service, service.close(incidentId, body.version, body.reason))


# ---- 42 CFR Part 2 ------------------------------------------------------------------------

PART2_TAGS = ["part2"]


class Part2LabelIn(RequestModel):
    part2: bool = Field(description="The patient's records come from a Part 2 program.")
    program: str = Field(default="", max_length=200, description="The Part 2 program's name.")
    version: int | None = Field(
        default=None, ge=1, description="The label's version you loaded; omit for a first label."
    )


class RecipientIn(RequestModel):
    kind: Annotated[RecipientKind, Strict(False)]
    key: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.:@-]{1,64}$",
        description="A specific payer id or provider NPI; omit for the general designation.",
    )
    name: str = Field(min_length=1, max_length=200)


class Part2ConsentIn(RequestModel):
    """Every element 42 CFR 2.31 requires; the patient's name comes from the record."""

    disclosing_program: str = Field(min_length=1, max_length=200)
    information: str = Field(min_length=10, max_length=2000)
    recipients: list[RecipientIn] = Field(min_length=1, max_length=20)
    purposes: list[Annotated[Purpose, Strict(False)]] = Field(min_length=1, max_length=4)
    purpose_description: str = Field(min_length=3, max_length=2000)
    expires_on: IsoDate | None = None
    expiration_event: str = Field(default="", max_length=500)
    signed_by: str = Field(min_length=1, max_length=200)
    signer_relationship: str = Field(default="self", pattern=r"^(self|guardian|representative)$")
    signed_on: IsoDate
    statements_given: bool = Field(
        description="The patient was given the revocation, redisclosure and"
        " not-conditioned statements (42 CFR 2.31)."
    )


class VersionIn(RequestModel):
    version: int = Field(ge=1)


class Part2LabelView(BaseModel):
    part2: bool
    program: str
    labelled_by: str
    labelled_at: datetime
    version: int


class Part2RecipientView(BaseModel):
    kind: str
    key: str | None
    name: str


class Part2ConsentView(BaseModel):
    id: str
    patient_name: str
    disclosing_program: str
    information: str
    recipients: list[Part2RecipientView]
    purposes: list[str]
    purpose_description: str
    expires_on: date | None
    expiration_event: str
    signed_by: str
    signer_relationship: str
    signed_on: IsoDate
    recorded_by: str
    recorded_at: datetime
    revoked_at: datetime | None
    active: bool
    version: int

    @classmethod
    def of(cls, c: Part2Consent, today: date) -> Part2ConsentView:
        data = c.model_dump(mode="json", include=set(cls.model_fields))
        return cls.model_validate(data | {"active": c.active(today)})


class Part2View(BaseModel):
    patient_id: str
    label: Part2LabelView | None
    consents: list[Part2ConsentView]
    redisclosure_notice: str
    revocation_statement: str
    not_conditioned_statement: str


def _part2_view(service: Part2Service, patient_id: str) -> Part2View:
    label, consents = service.read(patient_id)
    today = part2_today(service.ctx.runtime, service.ctx.practice_id)
    return Part2View(
        patient_id=patient_id,
        label=Part2LabelView.model_validate(label.model_dump()) if label else None,
        consents=[Part2ConsentView.of(c, today) for c in consents],
        redisclosure_notice=REDISCLOSURE_NOTICE,
        revocation_statement=REVOCATION_STATEMENT,
        not_conditioned_statement=NOT_CONDITIONED_STATEMENT,
    )


@app.get(
    "/v1/patients/<patientId>/part2",
    summary="Whether a patient's records are 42 CFR Part 2, and their consents",
    tags=PART2_TAGS,
)
def get_part2(patientId: str) -> Part2View:  # noqa: N803
    return _part2_view(Part2Service(service_context(app)), patientId)


@app.put(
    "/v1/patients/<patientId>/part2",
    summary="Label (or unlabel) a patient's records as 42 CFR Part 2",
    tags=PART2_TAGS,
)
def set_part2(patientId: str, body: Part2LabelIn) -> Part2LabelView:  # noqa: N803
    label = Part2Service(service_context(app)).set_label(
        patientId, body.part2, body.program, body.version
    )
    return Part2LabelView.model_validate(label.model_dump())


@app.post(
    "/v1/patients/<patientId>/part2/consents",
    summary="Record a patient's signed Part 2 consent",
    tags=PART2_TAGS,
    responses=created_doc(Part2ConsentView),
    middlewares=[idempotent],
)
def record_part2_consent(patientId: str, body: Part2ConsentIn) -> Response[str]:  # noqa: N803
    service = Part2Service(service_context(app))
    consent = service.record_consent(
        patientId,
        disclosing_program=body.disclosing_program,
        information=body.information,
        recipients=[Recipient(**r.model_dump()) for r in body.recipients],
        purposes=body.purposes,
        purpose_description=body.purpose_description,
        expires_on=body.expires_on,
        expiration_event=body.expiration_event,
        signed_by=body.signed_by,
        signer_relationship=body.signer_relationship,
        signed_on=body.signed_on,
        statements_given=body.statements_given,
    )
    today = part2_today(service.ctx.runtime, service.ctx.practice_id)
    return created(Part2ConsentView.of(consent, today), f"/v1/patients/{patientId}/part2")


@app.post(
    "/v1/patients/<patientId>/part2/consents/<consentId>/revoke",
    summary="Revoke a Part 2 consent (staff, or the patient)",
    tags=PART2_TAGS,
)
def revoke_part2_consent(patientId: str, consentId: str, body: VersionIn) -> Part2ConsentView:  # noqa: N803
    service = Part2Service(service_context(app))
    consent = service.revoke(patientId, consentId, body.version)
    return Part2ConsentView.of(consent, part2_today(service.ctx.runtime, service.ctx.practice_id))


# ---- HIPAA individual rights: disclosures, access, amendment, accounting -----------------

RIGHTS_TAGS = ["rights"]


class DisclosureIn(RequestModel):
    """One disclosure, with what 45 CFR 164.528(b)(2) asks an accounting to show."""

    disclosed_on: IsoDate
    recipient: str = Field(min_length=1, max_length=300, description="Who received it.")
    recipient_address: str = Field(default="", max_length=500, description="If known.")
    description: str = Field(min_length=1, max_length=2000, description="What was disclosed.")
    purpose: str = Field(min_length=1, max_length=2000, description="Why (or the request).")
    basis: Annotated[DisclosureBasis, Strict(False)]
    source: Annotated[DisclosureSource, Strict(False)] = DisclosureSource.MANUAL
    reference: str | None = Field(
        default=None,
        pattern=r"^(inc|mfl)_[0-9a-z]{26}$",
        description="The incident or disclosure flag it was recorded from.",
    )


class DisclosureView(BaseModel):
    id: str
    patient_id: str
    disclosed_on: date
    recipient: str
    recipient_address: str
    description: str
    purpose: str
    basis: str
    accounted: bool = Field(description="Belongs in the patient's accounting (164.528(a)).")
    source: str
    reference: str | None
    recorded_by: str
    recorded_at: datetime

    @classmethod
    def of(cls, d: Disclosure) -> DisclosureView:
        return cls.model_validate(d.model_dump(mode="json") | {"accounted": d.accounted})


class RightsRequestIn(RequestModel):
    kind: Annotated[RequestKind, Strict(False)]
    details: str = Field(
        default="",
        max_length=8000,
        description="Amendment: what should change and why (required). Otherwise optional.",
    )
    record_reference: str | None = Field(
        default=None,
        pattern=r"^[a-z]{2,5}_[0-9a-z]{26}$",
        description="Amendment: the record it is about (e.g. a note id).",
    )
    period_from: IsoDate | None = Field(
        default=None, description="Accounting: a shorter period than six years, from this date."
    )


class ExtendIn(RequestModel):
    version: int = Field(ge=1)
    reason: str = Field(min_length=1, max_length=2000, description="Given to the patient.")


class AmendmentDecisionIn(RequestModel):
    version: int = Field(ge=1)
    accept: bool
    response: str = Field(
        min_length=1,
        max_length=8000,
        description="Accepted: the amendment as made. Denied: the basis for the denial.",
    )


class DisagreementIn(RequestModel):
    version: int = Field(ge=1)
    statement: str = Field(min_length=1, max_length=8000)


class PackageView(BaseModel):
    format: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str


class ExtensionView(BaseModel):
    reason: str
    by: str
    at: datetime
    due_on: date


class RightsRequestView(BaseModel):
    id: str
    patient_id: str
    kind: str
    details: str
    record_reference: str | None
    period_from: date | None
    received_at: datetime
    received_on: date
    requested_by: str
    due_on: date
    overdue: bool
    extension: ExtensionView | None
    status: str
    decided_by: str | None
    decided_at: datetime | None
    response: str
    disagreement: str
    disagreement_at: datetime | None
    accounting_from: date | None = Field(description="Accounting: the period covered.")
    accounting_to: date | None
    disclosures: list[DisclosureView] = Field(
        default_factory=list, description="A given accounting: the disclosures in it."
    )
    package: list[PackageView] = Field(
        default_factory=list, description="A given copy of the record: its files."
    )
    version: int

    @classmethod
    def of(
        cls, r: RightsRequest, today: date, given: list[Disclosure] | None = None
    ) -> RightsRequestView:
        start, end = accounting_period(r) if r.kind is RequestKind.ACCOUNTING else (None, None)
        data = r.model_dump(mode="json", exclude={"disclosure_ids", "package"})
        return cls.model_validate(
            data
            | {
                "overdue": r.overdue(today),
                "accounting_from": start,
                "accounting_to": end,
                "disclosures": [DisclosureView.of(d) for d in given or []],
                "package": [
                    PackageView.model_validate(f.model_dump(mode="json", exclude={"file_id"}))
                    for f in r.package
                ],
            }
        )


@app.post(
    "/v1/patients/<patientId>/disclosures",
    summary="Record a disclosure of the patient's information (append-only)",
    tags=RIGHTS_TAGS,
    responses=created_doc(DisclosureView),
    middlewares=[idempotent],
)
def record_disclosure(patientId: str, body: DisclosureIn) -> Response[str]:  # noqa: N803
    disclosure = RightsService(service_context(app)).record_disclosure(
        patientId, **body.model_dump()
    )
    return created(DisclosureView.of(disclosure), f"/v1/patients/{patientId}/disclosures")


@app.get(
    "/v1/patients/<patientId>/disclosures",
    summary="The patient's disclosure register, newest first",
    tags=RIGHTS_TAGS,
)
def list_disclosures(patientId: str) -> Page[DisclosureView]:  # noqa: N803
    found = RightsService(service_context(app)).disclosures(patientId)
    return Page[DisclosureView](items=[DisclosureView.of(d) for d in found], next_cursor=None)


@app.post(
    "/v1/patients/<patientId>/rights-requests",
    summary="Request access, an amendment or an accounting of disclosures",
    tags=RIGHTS_TAGS,
    responses=created_doc(RightsRequestView),
    middlewares=[idempotent],
)
def create_rights_request(patientId: str, body: RightsRequestIn) -> Response[str]:  # noqa: N803
    service = RightsService(service_context(app))
    request = service.create_request(
        patientId,
        body.kind,
        details=body.details,
        record_reference=body.record_reference,
        period_from=body.period_from,
    )
    return created(
        RightsRequestView.of(request, practice_today(service.ctx)),
        f"/v1/patients/{patientId}/rights-requests/{request.id}",
    )


@app.get(
    "/v1/patients/<patientId>/rights-requests",
    summary="The patient's rights requests, newest first",
    tags=RIGHTS_TAGS,
)
def list_rights_requests(patientId: str) -> Page[RightsRequestView]:  # noqa: N803
    service = RightsService(service_context(app))
    found = service.requests(patientId)
    today = practice_today(service.ctx)
    return Page[RightsRequestView](
        items=[RightsRequestView.of(r, today) for r in found], next_cursor=None
    )


@app.get(
    "/v1/patients/<patientId>/rights-requests/<requestId>",
    summary="One rights request (a given accounting lists its disclosures)",
    tags=RIGHTS_TAGS,
)
def get_rights_request(patientId: str, requestId: str) -> RightsRequestView:  # noqa: N803
    service = RightsService(service_context(app))
    request, given = service.request(patientId, requestId)
    return RightsRequestView.of(request, practice_today(service.ctx), given)


@app.post(
    "/v1/patients/<patientId>/rights-requests/<requestId>/extend",
    summary="Extend a request's deadline once by 30 days, with the reason",
    tags=RIGHTS_TAGS,
)
def extend_rights_request(patientId: str, requestId: str, body: ExtendIn) -> RightsRequestView:  # noqa: N803
    service = RightsService(service_context(app))
    request = service.extend(patientId, requestId, body.version, body.reason)
    return RightsRequestView.of(request, practice_today(service.ctx))


@app.post(
    "/v1/patients/<patientId>/rights-requests/<requestId>/accounting",
    summary="Give the accounting of disclosures an accounting request asks for",
    tags=RIGHTS_TAGS,
)
def give_accounting(patientId: str, requestId: str, body: VersionIn) -> RightsRequestView:  # noqa: N803
    service = RightsService(service_context(app))
    service.give_accounting(patientId, requestId, body.version)
    request, given = service.request(patientId, requestId)
    return RightsRequestView.of(request, practice_today(service.ctx), given)


@app.post(
    "/v1/patients/<patientId>/rights-requests/<requestId>/access",
    summary="Give the patient their record (FHIR R4 bundle and PDF, through the portal)",
    tags=RIGHTS_TAGS,
)
def give_access(patientId: str, requestId: str, body: VersionIn) -> RightsRequestView:  # noqa: N803
    service = RightsService(service_context(app))
    request = service.give_access(patientId, requestId, body.version)
    return RightsRequestView.of(request, practice_today(service.ctx))


@app.get(
    "/v1/patients/<patientId>/rights-requests/<requestId>/package/<packageFormat>",
    summary="Download a given record: `fhir` (FHIR R4 bundle, JSON) or `pdf`; base64 in JSON",
    tags=RIGHTS_TAGS,
)
def download_package(patientId: str, requestId: str, packageFormat: str) -> FileOut:  # noqa: N803
    try:
        fmt = PackageFormat(packageFormat)
    except ValueError as exc:
        raise NotFound() from exc
    found, data = RightsService(service_context(app)).package_file(patientId, requestId, fmt)
    return FileOut(
        filename=found.filename,
        content_type=found.content_type,
        size_bytes=found.size_bytes,
        content_base64=base64.b64encode(data).decode("ascii"),
    )


@app.post(
    "/v1/patients/<patientId>/rights-requests/<requestId>/decision",
    summary="Accept (the amendment as made) or deny (with the basis) an amendment request",
    tags=RIGHTS_TAGS,
)
def decide_amendment(
    patientId: str,  # noqa: N803
    requestId: str,  # noqa: N803
    body: AmendmentDecisionIn,
) -> RightsRequestView:
    service = RightsService(service_context(app))
    request = service.decide_amendment(
        patientId, requestId, body.version, accept=body.accept, response=body.response
    )
    return RightsRequestView.of(request, practice_today(service.ctx))


@app.post(
    "/v1/patients/<patientId>/rights-requests/<requestId>/disagreement",
    summary="File a statement of disagreement with a denied amendment",
    tags=RIGHTS_TAGS,
)
def file_disagreement(
    patientId: str,  # noqa: N803
    requestId: str,  # noqa: N803
    body: DisagreementIn,
) -> RightsRequestView:
    service = RightsService(service_context(app))
    request = service.disagree(patientId, requestId, body.version, body.statement)
    return RightsRequestView.of(request, practice_today(service.ctx))


@app.get(
    "/v1/rights-requests",
    summary="Every patient's rights requests (open ones by due date)",
    tags=RIGHTS_TAGS,
)
def rights_queue(
    status: Annotated[str | None, Query(pattern=r"^open$", description="`open` only")] = None,
    limit: Limit = 25,
    cursor: Cursor = None,
) -> Page[RightsRequestView]:
    service = RightsService(service_context(app))
    items, next_cursor = service.queue(limit, cursor, open_only=status == "open")
    today = practice_today(service.ctx)
    return Page[RightsRequestView](
        items=[RightsRequestView.of(r, today) for r in items], next_cursor=next_cursor
    )


# ---- access reviews ------------------------------------------------------------------------

REVIEW_TAGS = ["access-reviews"]


class AccessReviewIn(RequestModel):
    period_from: Instant | None = Field(
        default=None,
        description="Break-glass uses since this instant (with its offset); default the last"
        " sign-off (or 90 days).",
    )


class UserDecisionIn(RequestModel):
    user_id: str = Field(pattern=r"^usr_[0-9a-z]{26}$")
    decision: Annotated[UserDecision, Strict(False)]
    note: str = Field(default="", max_length=2000, description="Required for `change`.")


class UseVerdictIn(RequestModel):
    grant_id: str = Field(pattern=r"^bgl_[0-9a-z]{26}$")
    verdict: Annotated[UseVerdict, Strict(False)]
    note: str = Field(default="", max_length=2000)


class ReviewDecisionsIn(RequestModel):
    version: int = Field(ge=1)
    users: list[UserDecisionIn] = Field(default_factory=list, max_length=1000)
    break_glass: list[UseVerdictIn] = Field(default_factory=list, max_length=1000)


class SignOffIn(RequestModel):
    version: int = Field(ge=1)
    summary: str = Field(min_length=1, max_length=8000)


class UserAccessView(BaseModel):
    user_id: str
    display_name: str
    roles: list[str]
    status: str
    care_team_patients: int
    supervisees: int
    decision: str | None
    note: str


class BreakGlassUseView(BaseModel):
    grant_id: str
    user_id: str
    patient_id: str
    started_at: datetime
    ends_at: datetime
    reason: str
    verdict: str | None
    note: str
    incident_id: str | None


class AccessReviewView(BaseModel):
    id: str
    period_from: datetime
    started_at: datetime
    started_by: str
    users: list[UserAccessView]
    break_glass: list[BreakGlassUseView]
    outstanding_users: int
    outstanding_break_glass: int
    status: str
    summary: str
    signed_off_by: str | None
    signed_off_at: datetime | None
    version: int

    @classmethod
    def of(cls, r: AccessReview) -> AccessReviewView:
        users, uses = r.outstanding()
        data = r.model_dump(mode="json", exclude={"uses"})
        return cls.model_validate(
            data
            | {
                "break_glass": [u.model_dump(mode="json") for u in r.uses],
                "outstanding_users": len(users),
                "outstanding_break_glass": len(uses),
            }
        )


@app.get("/v1/access-reviews", summary="Access reviews, newest first", tags=REVIEW_TAGS)
def list_access_reviews(limit: Limit = 25, cursor: Cursor = None) -> Page[AccessReviewView]:
    items, next_cursor = AccessReviewService(service_context(app)).reviews(limit, cursor)
    return Page[AccessReviewView](
        items=[AccessReviewView.of(r) for r in items], next_cursor=next_cursor
    )


@app.post(
    "/v1/access-reviews",
    summary="Start an access review (a snapshot of users, roles and break-glass uses)",
    tags=REVIEW_TAGS,
    responses=created_doc(AccessReviewView),
    middlewares=[idempotent],
)
def start_access_review(body: AccessReviewIn) -> Response[str]:
    review = AccessReviewService(service_context(app)).start(body.period_from)
    return created(AccessReviewView.of(review), f"/v1/access-reviews/{review.id}")


@app.get("/v1/access-reviews/<reviewId>", summary="One access review", tags=REVIEW_TAGS)
def get_access_review(reviewId: str) -> AccessReviewView:  # noqa: N803
    return AccessReviewView.of(AccessReviewService(service_context(app)).get(reviewId))


@app.post(
    "/v1/access-reviews/<reviewId>/decisions",
    summary="Record decisions on users and verdicts on break-glass uses",
    tags=REVIEW_TAGS,
)
def decide_access_review(reviewId: str, body: ReviewDecisionsIn) -> AccessReviewView:  # noqa: N803
    review = AccessReviewService(service_context(app)).decide(
        reviewId,
        body.version,
        {u.user_id: (u.decision, u.note) for u in body.users},
        {g.grant_id: (g.verdict, g.note) for g in body.break_glass},
    )
    return AccessReviewView.of(review)


@app.post(
    "/v1/access-reviews/<reviewId>/sign-off",
    summary="Sign the access review off (every user decided, every use judged)",
    tags=REVIEW_TAGS,
)
def sign_off_access_review(reviewId: str, body: SignOffIn) -> AccessReviewView:  # noqa: N803
    review = AccessReviewService(service_context(app)).sign_off(
        reviewId, body.version, body.summary
    )
    return AccessReviewView.of(review)


lambda_handler = lambda_entry(app, "compliance", max_body_bytes=5_700_000)

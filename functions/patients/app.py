"""Patients (first slice): records, care teams, emergency access, and who looked at a record."""

from __future__ import annotations

from datetime import date, datetime
from typing import TypeVar

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel, Field

from tpm.api.app import create_app, lambda_entry
from tpm.api.context import Cursor, Limit, service_context
from tpm.api.idempotency import idempotent
from tpm.api.models import EmailAddress, IsoDate, RequestModel, to_domain
from tpm.api.responses import NO_CONTENT_DOC, created, created_doc, no_content
from tpm.api.views import Page
from tpm.domain.patients import (
    Address,
    Communication,
    EmergencyContact,
    Guardian,
    Insurance,
    Patient,
)
from tpm.errors import NotFound
from tpm.services.patient_portal import PortalInvitation, invite_to_portal
from tpm.services.patients import (
    AccessLogEntry,
    NewPatient,
    PatientService,
    SearchQuery,
)

app = create_app("patients")
TAGS = ["patients"]
E164 = r"^\+[1-9]\d{6,14}$"
PartT = TypeVar("PartT", Address, EmergencyContact, Guardian, Insurance)


class AddressIn(RequestModel):
    line1: str = Field(min_length=1, max_length=120)
    line2: str | None = Field(default=None, max_length=120)
    city: str = Field(min_length=1, max_length=80)
    region: str | None = Field(default=None, max_length=80)
    postal_code: str = Field(min_length=1, max_length=20)
    country: str = Field(default="US", pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")


class EmergencyContactIn(RequestModel):
    name: str = Field(min_length=1, max_length=120)
    relationship: str = Field(min_length=1, max_length=60)
    phone: str = Field(pattern=E164)


class GuardianIn(RequestModel):
    name: str = Field(min_length=1, max_length=120)
    relationship: str = Field(min_length=1, max_length=60)
    phone: str | None = Field(default=None, pattern=E164)
    email: EmailAddress | None = None


class SubscriberIn(RequestModel):
    name: str = Field(min_length=1, max_length=120)
    relationship: str = Field(min_length=1, max_length=60)
    date_of_birth: IsoDate


class InsuranceIn(RequestModel):
    payer_name: str = Field(min_length=1, max_length=120)
    payer_id: str | None = Field(default=None, max_length=40)
    member_id: str = Field(min_length=1, max_length=60)
    group_number: str | None = Field(default=None, max_length=60)
    subscriber: SubscriberIn | None = None


def _part(kind: type[PartT], value: RequestModel | None, name: str) -> PartT | None:
    return None if value is None else to_domain(kind, value, f"body.{name}")


class CommunicationIn(RequestModel):
    """Reminder preferences. Opt-out times are set by the opt-out itself, never here."""

    email_reminders: bool = False
    sms_reminders: bool = False
    reminder_may_name_service: bool = Field(
        default=False, description="An authorization on file lets reminders name the service."
    )


class CommunicationPatchIn(RequestModel):
    email_reminders: bool | None = None
    sms_reminders: bool | None = None
    reminder_may_name_service: bool | None = None


class PatientIn(RequestModel):
    legal_first_name: str = Field(min_length=1, max_length=80)
    legal_last_name: str = Field(min_length=1, max_length=80)
    preferred_name: str | None = Field(default=None, max_length=80)
    pronouns: str | None = Field(default=None, max_length=40)
    date_of_birth: IsoDate
    email: EmailAddress | None = None
    phone: str | None = Field(default=None, pattern=E164)
    timezone: str = Field(default="America/Chicago", max_length=64)
    address: AddressIn | None = None
    emergency_contact: EmergencyContactIn | None = None
    guardian: GuardianIn | None = Field(
        default=None, description="Required when the patient is under 18."
    )
    insurance: InsuranceIn | None = None
    communication: CommunicationIn = Field(default_factory=CommunicationIn)
    add_me_to_care_team: bool = False


class PatientPatchIn(RequestModel):
    """Only the fields sent change; null clears an optional field or object. Nested
    objects are replaced whole, `communication` is merged. Patients editing their own
    record may send only email, phone, address, emergency_contact and their reminder
    channels."""

    version: int = Field(ge=1, description="The version you loaded (409 if it changed).")
    legal_first_name: str | None = Field(default=None, min_length=1, max_length=80)
    legal_last_name: str | None = Field(default=None, min_length=1, max_length=80)
    preferred_name: str | None = Field(default=None, max_length=80)
    pronouns: str | None = Field(default=None, max_length=40)
    date_of_birth: IsoDate | None = None
    email: EmailAddress | None = None
    phone: str | None = Field(default=None, pattern=E164)
    timezone: str | None = Field(default=None, max_length=64)
    address: AddressIn | None = None
    emergency_contact: EmergencyContactIn | None = None
    guardian: GuardianIn | None = None
    insurance: InsuranceIn | None = None
    communication: CommunicationPatchIn | None = None


class PatientView(BaseModel):
    id: str
    legal_first_name: str
    legal_last_name: str
    preferred_name: str | None
    pronouns: str | None
    date_of_birth: date
    email: str | None
    phone: str | None
    timezone: str
    status: str
    address: Address | None
    emergency_contact: EmergencyContact | None
    guardian: Guardian | None
    insurance: Insurance | None
    communication: Communication
    version: int

    @classmethod
    def of(cls, p: Patient) -> PatientView:
        return cls.model_validate(p.model_dump(include=set(cls.model_fields)))


class SearchIn(RequestModel):
    """Search terms travel in the body so they never reach URLs or access logs."""

    name: str | None = Field(default=None, min_length=1, max_length=160)
    date_of_birth: IsoDate | None = None
    phone: str | None = Field(default=None, min_length=7, max_length=32, pattern=r"^[0-9+() .-]+$")


class PatientSummary(BaseModel):
    """A search hit: enough to pick the right person (minimum necessary); open the record
    for the rest."""

    id: str
    legal_first_name: str
    legal_last_name: str
    preferred_name: str | None
    date_of_birth: date
    status: str

    @classmethod
    def of(cls, p: Patient) -> PatientSummary:
        return cls.model_validate(p.model_dump(include=set(cls.model_fields)))


class SearchOut(BaseModel):
    items: list[PatientSummary]
    truncated: bool = Field(description="More patients matched than shown; narrow the search.")


class PortalInviteIn(RequestModel):
    email: EmailAddress | None = Field(
        default=None,
        description="Only when no email is on file (it is then recorded on the patient).",
    )


class PortalInvitationOut(BaseModel):
    user_id: str
    status: str
    invitation_token: str
    expires_at: datetime
    reissued: bool

    @classmethod
    def of(cls, i: PortalInvitation) -> PortalInvitationOut:
        return cls(
            user_id=i.user.id,
            status=i.user.status.value,
            invitation_token=i.token,
            expires_at=i.expires_at,
            reissued=i.reissued,
        )


class CareTeamIn(RequestModel):
    user_id: str = Field(pattern=r"^usr_[0-9a-z]{26}$")


class CareTeamOut(BaseModel):
    user_ids: list[str]


class BreakGlassIn(RequestModel):
    reason: str = Field(
        min_length=10, max_length=500, description="Why emergency access is needed."
    )


class BreakGlassOut(BaseModel):
    grant_id: str
    ends_at: str


class AccessLogView(BaseModel):
    time: str
    staff_name: str
    staff_roles: list[str]
    access: str
    emergency: bool

    @classmethod
    def of(cls, e: AccessLogEntry) -> AccessLogView:
        return cls(
            time=e.time,
            staff_name=e.staff_name,
            staff_roles=list(e.staff_roles),
            access=e.access,
            emergency=e.emergency,
        )


@app.post(
    "/v1/patients",
    summary="Create a patient",
    tags=TAGS,
    responses=created_doc(PatientView),
    middlewares=[idempotent],
)
def create_patient(body: PatientIn) -> Response[str]:
    data = body.model_dump(exclude={"add_me_to_care_team", "communication"})
    data |= {
        "address": _part(Address, body.address, "address"),
        "emergency_contact": _part(EmergencyContact, body.emergency_contact, "emergency_contact"),
        "guardian": _part(Guardian, body.guardian, "guardian"),
        "insurance": _part(Insurance, body.insurance, "insurance"),
        "communication": Communication(**body.communication.model_dump()),
    }
    patient = PatientService(service_context(app)).create(
        NewPatient(**data), add_me_to_care_team=body.add_me_to_care_team
    )
    return created(PatientView.of(patient), f"/v1/patients/{patient.id}")


@app.get("/v1/patients", summary="List patients the caller may see", tags=TAGS)
def list_patients(limit: Limit = 25, cursor: Cursor = None) -> Page[PatientView]:
    patients, next_cursor = PatientService(service_context(app)).list_patients(limit, cursor)
    return Page[PatientView](items=[PatientView.of(p) for p in patients], next_cursor=next_cursor)


@app.get("/v1/patients/<patientId>", summary="Get a patient", tags=TAGS)
def get_patient(patientId: str) -> PatientView:  # noqa: N803 - path parameter
    return PatientView.of(PatientService(service_context(app)).get(patientId))


@app.post("/v1/patients/search", summary="Find patients by name, date of birth or phone", tags=TAGS)
def search_patients(body: SearchIn) -> SearchOut:
    result = PatientService(service_context(app)).search(
        SearchQuery(name=body.name, date_of_birth=body.date_of_birth, phone=body.phone)
    )
    return SearchOut(
        items=[PatientSummary.of(p) for p in result.patients], truncated=result.truncated
    )


@app.patch("/v1/patients/<patientId>", summary="Update a patient (partial)", tags=TAGS)
def update_patient(patientId: str, body: PatientPatchIn) -> PatientView:  # noqa: N803
    changes = body.model_dump(exclude_unset=True, exclude={"version"})
    service = PatientService(service_context(app))
    return PatientView.of(service.update(patientId, body.version, changes))


@app.post(
    "/v1/patients/<patientId>/portal-invitation",
    summary="Invite the patient to the portal (or re-issue a pending invitation)",
    tags=TAGS,
    responses=created_doc(PortalInvitationOut),
    middlewares=[idempotent],
)
def portal_invitation(patientId: str, body: PortalInviteIn) -> Response[str]:  # noqa: N803
    invitation = invite_to_portal(service_context(app), patientId, body.email)
    return created(PortalInvitationOut.of(invitation))


@app.get("/v1/patients/<patientId>/care-team", summary="A patient's care team", tags=TAGS)
def get_care_team(patientId: str) -> CareTeamOut:  # noqa: N803
    return CareTeamOut(user_ids=PatientService(service_context(app)).care_team(patientId))


@app.post(
    "/v1/patients/<patientId>/care-team",
    summary="Add a staff member to the care team",
    tags=TAGS,
    responses=NO_CONTENT_DOC,
)
def add_care_team(patientId: str, body: CareTeamIn) -> Response[str]:  # noqa: N803
    PatientService(service_context(app)).add_to_care_team(patientId, body.user_id)
    return no_content()


@app.post(
    "/v1/patients/<patientId>/care-team/<userId>/remove",
    summary="Remove from the care team",
    tags=TAGS,
    responses=NO_CONTENT_DOC,
)
def remove_care_team(patientId: str, userId: str) -> Response[str]:  # noqa: N803
    PatientService(service_context(app)).remove_from_care_team(patientId, userId)
    return no_content()


@app.post(
    "/v1/patients/<patientId>/break-glass",
    responses=created_doc(BreakGlassOut),
    summary="Emergency access (time-boxed, alerted)",
    tags=TAGS,
    middlewares=[idempotent],
)
def break_glass(patientId: str, body: BreakGlassIn) -> Response[str]:  # noqa: N803
    grant_id, ends_at = PatientService(service_context(app)).break_glass(patientId, body.reason)
    return created(BreakGlassOut(grant_id=grant_id, ends_at=ends_at))


@app.get(
    "/v1/patients/<patientId>/access-log", summary="Who accessed this record, and when", tags=TAGS
)
def access_log(patientId: str, limit: Limit = 25, cursor: Cursor = None) -> Page[AccessLogView]:  # noqa: N803
    entries, next_cursor = PatientService(service_context(app)).access_log(patientId, limit, cursor)
    return Page[AccessLogView](
        items=[AccessLogView.of(e) for e in entries], next_cursor=next_cursor
    )


@app.get("/v1/me/access-log", summary="Who accessed my record (patients)", tags=TAGS)
def my_access_log(limit: Limit = 25, cursor: Cursor = None) -> Page[AccessLogView]:
    ctx = service_context(app)
    if ctx.principal.patient_id is None:
        raise NotFound()
    entries, next_cursor = PatientService(ctx).access_log(ctx.principal.patient_id, limit, cursor)
    return Page[AccessLogView](
        items=[AccessLogView.of(e) for e in entries], next_cursor=next_cursor
    )


lambda_handler = lambda_entry(app, "patients")

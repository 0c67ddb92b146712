"""Patients (first slice): records, care teams, emergency access, and who looked at a record."""

from __future__ import annotations

from datetime import date

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel, ConfigDict, Field

from tpm.api.app import create_app, lambda_entry
from tpm.api.context import Cursor, Limit, service_context
from tpm.api.responses import created, created_doc, no_content
from tpm.api.views import Page
from tpm.domain.patients import Patient
from tpm.errors import NotFound
from tpm.services.patients import AccessLogEntry, NewPatient, PatientService

app = create_app("patients")
TAGS = ["patients"]
E164 = r"^\+[1-9]\d{6,14}$"
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class PatientIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    legal_first_name: str = Field(min_length=1, max_length=80)
    legal_last_name: str = Field(min_length=1, max_length=80)
    preferred_name: str | None = Field(default=None, max_length=80)
    pronouns: str | None = Field(default=None, max_length=40)
    date_of_birth: date
    email: str | None = Field(default=None, max_length=254, pattern=EMAIL)
    phone: str | None = Field(default=None, pattern=E164)
    timezone: str = Field(default="America/Chicago", max_length=64)
    add_me_to_care_team: bool = False


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(default=None, max_length=254, pattern=EMAIL)
    phone: str | None = Field(default=None, pattern=E164)
    version: int = Field(ge=1)


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
    version: int

    @classmethod
    def of(cls, p: Patient) -> PatientView:
        return cls.model_validate(p.model_dump(include=set(cls.model_fields)))


class CareTeamIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(pattern=r"^usr_[0-9a-z]{26}$")


class CareTeamOut(BaseModel):
    user_ids: list[str]


class BreakGlassIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

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


@app.post("/v1/patients", summary="Create a patient", tags=TAGS, responses=created_doc(PatientView))
def create_patient(body: PatientIn) -> Response[str]:
    data = body.model_dump(exclude={"add_me_to_care_team"})
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


@app.patch("/v1/patients/<patientId>", summary="Update a patient's contact details", tags=TAGS)
def update_patient(patientId: str, body: ContactIn) -> PatientView:  # noqa: N803
    service = PatientService(service_context(app))
    return PatientView.of(service.update_contact(patientId, body.version, body.email, body.phone))


@app.get("/v1/patients/<patientId>/care-team", summary="A patient's care team", tags=TAGS)
def get_care_team(patientId: str) -> CareTeamOut:  # noqa: N803
    return CareTeamOut(user_ids=PatientService(service_context(app)).care_team(patientId))


@app.post(
    "/v1/patients/<patientId>/care-team", summary="Add a staff member to the care team", tags=TAGS
)
def add_care_team(patientId: str, body: CareTeamIn) -> Response[str]:  # noqa: N803
    PatientService(service_context(app)).add_to_care_team(patientId, body.user_id)
    return no_content()


@app.post(
    "/v1/patients/<patientId>/care-team/<userId>/remove",
    summary="Remove from the care team",
    tags=TAGS,
)
def remove_care_team(patientId: str, userId: str) -> Response[str]:  # noqa: N803
    PatientService(service_context(app)).remove_from_care_team(patientId, userId)
    return no_content()


@app.post(
    "/v1/patients/<patientId>/break-glass",
    responses=created_doc(BreakGlassOut),
    summary="Emergency access (time-boxed, alerted)",
    tags=TAGS,
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

"""Measures: staff send a scored measure (PHQ-9, GAD-7, …) to a patient; the patient answers
it in the portal; clinicians read the scores as a series or a chart, and the risk flags.

The chart is an SVG string inside JSON rather than an image/svg+xml body: every route keeps
one content type, one error shape and one audit path, and the future staff UI inserts the
string as an image (a data: URL), never as markup.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel, Field, StrictInt, StringConstraints

from tpm.api.app import create_app, lambda_entry
from tpm.api.context import Cursor, Limit, service_context
from tpm.api.idempotency import idempotent
from tpm.api.models import Instant, RequestModel
from tpm.api.responses import created, created_doc
from tpm.api.views import Page
from tpm.domain.measures import MeasureFlag, MeasureForm, MeasureRequest, MeasureResponse
from tpm.domain.template_models import TEMPLATE_ID_PATTERN, Option
from tpm.services.measures import MeasureService, NewRequest
from tpm.services.templates import TemplateCatalog

app = create_app("measures")
TAGS = ["measures"]
ItemId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class MeasureRequestIn(RequestModel):
    template_id: str = Field(
        pattern=TEMPLATE_ID_PATTERN, description="A scored measure, e.g. phq9."
    )
    due_at: Instant | None = None
    appointment_id: str | None = Field(default=None, pattern=r"^apt_[0-9a-z]{26}$")


class MeasureRequestView(BaseModel):
    id: str
    patient_id: str
    template_id: str
    template_version: int
    title: str
    due_at: datetime | None
    appointment_id: str | None
    status: Literal["open", "completed"]
    created_at: datetime
    completed_at: datetime | None
    version: int

    @classmethod
    def of(cls, r: MeasureRequest, catalog: TemplateCatalog) -> MeasureRequestView:
        title = catalog.get(r.template_id, r.template_version).title
        return cls.model_validate(r.model_dump(include=set(cls.model_fields)) | {"title": title})


class FormItemView(BaseModel):
    id: str
    number: int
    text: str | None = Field(description="The item's wording; null where the licence forbids it.")
    options: list[Option]


class MeasureFormView(BaseModel):
    request: MeasureRequestView
    title: str
    instructions: str | None
    source: str | None
    items: list[FormItemView]

    @classmethod
    def of(
        cls, request: MeasureRequest, form: MeasureForm, catalog: TemplateCatalog
    ) -> MeasureFormView:
        return cls(
            request=MeasureRequestView.of(request, catalog),
            title=form.title,
            instructions=form.instructions,
            source=form.source,
            items=[
                FormItemView(id=i.id, number=i.number, text=i.text, options=list(i.options))
                for i in form.items
            ],
        )


class AnswersIn(RequestModel):
    answers: dict[ItemId, StrictInt] = Field(max_length=100)


class SubmittedView(BaseModel):
    """What the patient gets back: a receipt, not the score (see tpm.services.measures)."""

    id: str
    request_id: str
    completed_at: datetime


class SeriesPoint(BaseModel):
    response_id: str
    completed_at: datetime
    total: int
    band: str
    flags: list[str]
    template_version: int

    @classmethod
    def of(cls, r: MeasureResponse) -> SeriesPoint:
        return cls(
            response_id=r.id,
            completed_at=r.completed_at,
            total=r.total,
            band=r.band,
            flags=list(r.flags),
            template_version=r.template_version,
        )


class SeriesOut(BaseModel):
    patient_id: str
    template_id: str
    items: list[SeriesPoint]


class ChartOut(BaseModel):
    content_type: Literal["image/svg+xml"] = "image/svg+xml"
    svg: str
    points: int


class MeasureFlagView(BaseModel):
    id: str
    patient_id: str
    response_id: str
    template_id: str
    flags: list[str]
    raised_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    acknowledgement_note: str | None
    version: int

    @classmethod
    def of(cls, f: MeasureFlag) -> MeasureFlagView:
        return cls(
            id=f.id,
            patient_id=f.patient_id,
            response_id=f.response_id,
            template_id=f.template_id,
            flags=list(f.flags),
            raised_at=f.raised_at,
            acknowledged_by=f.acknowledged_by,
            acknowledged_at=f.acknowledged_at,
            acknowledgement_note=f.acknowledgement_note,
            version=f.version,
        )


class FlagAcknowledgeIn(RequestModel):
    note: str | None = Field(
        default=None,
        max_length=1000,
        description="What was done (e.g. called the patient, safety plan reviewed).",
    )


# ---- staff ----------------------------------------------------------------------------------


@app.post(
    "/v1/patients/<patientId>/measure-requests",
    summary="Send a measure to a patient to complete in the portal",
    tags=TAGS,
    responses=created_doc(MeasureRequestView),
    middlewares=[idempotent],
)
def send_measure(patientId: str, body: MeasureRequestIn) -> Response[str]:  # noqa: N803
    service = MeasureService(service_context(app))
    request = service.send(
        patientId,
        NewRequest(
            template_id=body.template_id, due_at=body.due_at, appointment_id=body.appointment_id
        ),
    )
    view = MeasureRequestView.of(request, service.catalog)
    return created(view, f"/v1/patients/{patientId}/measure-requests")


@app.get(
    "/v1/patients/<patientId>/measure-requests",
    summary="Measures sent to a patient, newest first (status only, no answers)",
    tags=TAGS,
)
def list_measure_requests(
    patientId: str,  # noqa: N803
    limit: Limit = 25,
    cursor: Cursor = None,
) -> Page[MeasureRequestView]:
    service = MeasureService(service_context(app))
    found, next_cursor = service.list_for_patient(patientId, limit, cursor)
    return Page[MeasureRequestView](
        items=[MeasureRequestView.of(r, service.catalog) for r in found], next_cursor=next_cursor
    )


@app.get(
    "/v1/patients/<patientId>/measures/<templateId>/series",
    summary="A patient's scores on one measure over time (clinicians)",
    tags=TAGS,
)
def measure_series(patientId: str, templateId: str) -> SeriesOut:  # noqa: N803
    found = MeasureService(service_context(app)).series(patientId, templateId)
    return SeriesOut(
        patient_id=patientId, template_id=templateId, items=[SeriesPoint.of(r) for r in found]
    )


@app.get(
    "/v1/patients/<patientId>/measures/<templateId>/chart",
    summary="A patient's scores on one measure as an SVG chart (clinicians)",
    tags=TAGS,
)
def measure_chart(patientId: str, templateId: str) -> ChartOut:  # noqa: N803
    svg, points = MeasureService(service_context(app)).chart(patientId, templateId)
    return ChartOut(svg=svg, points=points)


@app.get(
    "/v1/measure-flags",
    summary="Risk flags from measures, addressed to me (clinicians), newest first",
    tags=TAGS,
)
def measure_flags(limit: Limit = 25, cursor: Cursor = None) -> Page[MeasureFlagView]:
    found, next_cursor = MeasureService(service_context(app)).flags(limit, cursor)
    return Page[MeasureFlagView](
        items=[MeasureFlagView.of(f) for f in found], next_cursor=next_cursor
    )


@app.post(
    "/v1/measure-flags/<flagId>/acknowledge",
    summary="Acknowledge a risk flag: who saw it, when, and a note (once; 409 after)",
    tags=TAGS,
)
def acknowledge_flag(flagId: str, body: FlagAcknowledgeIn) -> MeasureFlagView:  # noqa: N803
    flag = MeasureService(service_context(app)).acknowledge_flag(flagId, body.note)
    return MeasureFlagView.of(flag)


# ---- patients (the portal) ------------------------------------------------------------------


@app.get(
    "/v1/me/measure-requests",
    summary="Measures I have been asked to complete (patients)",
    tags=TAGS,
)
def my_measure_requests(limit: Limit = 25, cursor: Cursor = None) -> Page[MeasureRequestView]:
    service = MeasureService(service_context(app))
    found, next_cursor = service.list_mine(limit, cursor)
    return Page[MeasureRequestView](
        items=[MeasureRequestView.of(r, service.catalog) for r in found], next_cursor=next_cursor
    )


@app.get(
    "/v1/me/measure-requests/<requestId>",
    summary="A measure to complete, with its questions and answer options (patients)",
    tags=TAGS,
)
def my_measure_form(requestId: str) -> MeasureFormView:  # noqa: N803
    service = MeasureService(service_context(app))
    found = service.form(requestId)
    return MeasureFormView.of(found.request, found.form, service.catalog)


@app.post(
    "/v1/me/measure-requests/<requestId>/responses",
    summary="Submit my answers to a measure (patients)",
    tags=TAGS,
    responses=created_doc(SubmittedView),
    middlewares=[idempotent],
)
def submit_measure(requestId: str, body: AnswersIn) -> Response[str]:  # noqa: N803
    response = MeasureService(service_context(app)).submit(requestId, body.answers)
    receipt = SubmittedView(
        id=response.id, request_id=response.request_id, completed_at=response.completed_at
    )
    return created(receipt, f"/v1/me/measure-requests/{requestId}")


lambda_handler = lambda_entry(app, "measures")

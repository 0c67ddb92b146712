"""Measures in the portal: staff send a measure to a patient, the patient answers it in the
portal, it is scored with the template's rule and stored sealed; risk flags (PHQ-9 item 9
above 0) go to the patient's care team; clinicians read the scores as a series or a chart.

The patient is thanked, never shown the score: a total and a severity label without a
clinician to put them in context can alarm or falsely reassure, and an item-9 answer needs
a conversation, not a number. The clinician sees the result and the flag.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from tpm.adapters.store.base import ConditionFailed, Operation
from tpm.domain.measure_chart import ChartPoint, render_chart
from tpm.domain.measures import (
    FlagAlreadyAcknowledged,
    MeasureFlag,
    MeasureForm,
    MeasureRequest,
    MeasureResponse,
    MeasureRuleError,
    acknowledge_flag,
    check_due,
    check_sendable,
    complete,
    content_of,
    portal_form,
)
from tpm.domain.templates import Template, score, validate_content
from tpm.errors import Conflict, NotFound, ValidationFailed
from tpm.ids import new_id
from tpm.repositories.appointments import AppointmentRepository
from tpm.repositories.measures import MeasureRepository
from tpm.repositories.patients import PatientRepository
from tpm.security.policy import Access
from tpm.services.context import ServiceContext
from tpm.services.practices import get_practice
from tpm.services.templates import TemplateCatalog

REQUEST = "measure_request"
RESPONSE = "measure_response"
FLAG = "measure_flag"


@dataclass(frozen=True)
class NewRequest:
    template_id: str
    due_at: datetime | None = None
    appointment_id: str | None = None


@dataclass(frozen=True)
class RequestForm:
    request: MeasureRequest
    form: MeasureForm


def rule_error(exc: MeasureRuleError) -> ValidationFailed:
    return ValidationFailed(fields=[{"path": f"body.{p}", "type": t} for p, t in exc.fields])


def template_of(catalog: TemplateCatalog, template_id: str, version: int | None = None) -> Template:
    """Built-in or the practice's own measure (a clone keeps its scoring)."""
    try:
        return catalog.resolve(template_id, version)
    except NotFound:
        field = {"path": "body.template_id", "type": "unknown_template"}
        raise ValidationFailed(fields=[field]) from None


class MeasureService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.measures = MeasureRepository(ctx.store, ctx.runtime.cipher)
        self.catalog = TemplateCatalog(ctx.store)

    # ---- staff: send ----------------------------------------------------------------------

    def send(self, patient_id: str, new: NewRequest) -> MeasureRequest:
        ctx = self.ctx
        access = ctx.authorize(
            "measure.request.create",
            resource_kind=REQUEST,
            resource_id=patient_id,
            patient_id=patient_id,
        )
        self._require_patient(patient_id)
        template = template_of(self.catalog, new.template_id)
        try:
            check_sendable(template, ctx.relationships.care_team(patient_id))
            check_due(new.due_at, ctx.now())
        except MeasureRuleError as exc:
            raise rule_error(exc) from exc
        if new.appointment_id is not None:
            appointment = AppointmentRepository(ctx.store, ctx.runtime.cipher).get(
                new.appointment_id
            )
            if appointment is None or patient_id not in appointment.patient_ids:
                raise ValidationFailed(
                    fields=[{"path": "body.appointment_id", "type": "unknown_appointment"}]
                )
        request = MeasureRequest(
            id=new_id("mrq"),
            patient_id=patient_id,
            template_id=template.id,
            template_version=template.version,
            due_at=new.due_at,
            appointment_id=new.appointment_id,
            requested_by=ctx.principal.user_id,
            created_at=ctx.now(),
        )
        ctx.write(
            access,
            lambda: [self.measures.create_request_op(request)],
            REQUEST,
            request.id,
            patient_id=patient_id,
        )
        return request

    def list_for_patient(
        self, patient_id: str, limit: int, cursor: str | None, *, open_only: bool = False
    ) -> tuple[list[MeasureRequest], str | None]:
        ctx = self.ctx
        access = ctx.authorize(
            "measure.request.list",
            resource_kind=REQUEST,
            resource_id=patient_id,
            patient_id=patient_id,
        )
        self._require_patient(patient_id)
        found, next_cursor = self.measures.requests_for(
            patient_id, open_only=open_only, limit=limit, cursor=cursor
        )
        ctx.record(access, REQUEST, patient_id=patient_id, reason_code=f"count_{len(found)}")
        return found, next_cursor

    # ---- patients: answer -----------------------------------------------------------------

    def list_mine(self, limit: int, cursor: str | None) -> tuple[list[MeasureRequest], str | None]:
        """The portal's list: the signed-in patient's open requests (404 for staff, who
        have no record of their own)."""
        patient_id = self.ctx.principal.patient_id
        if patient_id is None:
            raise NotFound()
        return self.list_for_patient(patient_id, limit, cursor, open_only=True)

    def form(self, request_id: str) -> RequestForm:
        access, request = self._load("measure.request.read", request_id)
        template = template_of(self.catalog, request.template_id, request.template_version)
        self.ctx.record(access, REQUEST, request.id, patient_id=request.patient_id)
        return RequestForm(request, portal_form(template))

    def submit(self, request_id: str, answers: Mapping[str, int]) -> MeasureResponse:
        ctx = self.ctx
        access, request = self._load("measure.response.submit", request_id)
        if request.status != "open":
            raise Conflict("This questionnaire was already completed.")
        template = template_of(self.catalog, request.template_id, request.template_version)
        content = content_of(answers, self._today())
        errors = validate_content(template, content)
        if errors:
            raise ValidationFailed(
                fields=[{"path": "body" + e.path.replace("/", "."), "type": e.type} for e in errors]
            )
        result = score(template, answers)
        now = ctx.now()
        response = MeasureResponse(
            id=new_id("mrs"),
            request_id=request.id,
            patient_id=request.patient_id,
            template_id=template.id,
            template_version=template.version,
            answers=dict(answers),
            total=result.total,
            band=result.band,
            flags=result.flags,
            completed_at=now,
            submitted_by=ctx.principal.user_id,
        )
        ops: list[Operation] = [
            self.measures.create_response_op(response),
            self.measures.update_request_op(complete(request, response.id, now)),
        ]
        if result.flags:
            flag = MeasureFlag(
                id=new_id("mfl"),
                patient_id=request.patient_id,
                response_id=response.id,
                template_id=template.id,
                flags=result.flags,
                raised_at=now,
                notified=self._flag_recipients(request.patient_id),
            )
            ops += self.measures.create_flag_ops(flag)
        try:
            ctx.write(
                access,
                lambda: ops,
                RESPONSE,
                response.id,
                patient_id=request.patient_id,
                reason_code="risk_flag_raised" if result.flags else None,
            )
        except ConditionFailed as exc:  # answered twice at the same moment
            raise Conflict("This questionnaire was already completed.") from exc
        return response

    # ---- clinicians: results --------------------------------------------------------------

    def series(self, patient_id: str, template_id: str) -> list[MeasureResponse]:
        ctx = self.ctx
        access = ctx.authorize(
            "measure.series.read",
            resource_kind=RESPONSE,
            resource_id=patient_id,
            patient_id=patient_id,
        )
        self._require_patient(patient_id)
        self.catalog.latest(template_id)  # NotFound for a template the practice lacks
        found = self.measures.series(patient_id, template_id)
        ctx.record(access, RESPONSE, patient_id=patient_id, reason_code=f"count_{len(found)}")
        return found

    def chart(self, patient_id: str, template_id: str) -> tuple[str, int]:
        """The series as SVG, and how many points it shows."""
        found = self.series(patient_id, template_id)
        template = self.catalog.latest(template_id)
        scoring = template.scoring
        if scoring is None:
            raise NotFound()
        points = [ChartPoint(r.completed_at, r.total, r.band, bool(r.flags)) for r in found]
        svg = render_chart(
            template.title, scoring.min_total, scoring.max_total, scoring.bands, points
        )
        return svg, len(points)

    def flags(self, limit: int, cursor: str | None) -> tuple[list[MeasureFlag], str | None]:
        """Risk flags addressed to the caller, for patients they may still reach (someone
        taken off the care team since stops seeing them)."""
        ctx = self.ctx
        ctx.authorize_list("measure.flag.list", resource_kind=FLAG)
        ids, next_cursor = self.measures.inbox(ctx.principal.user_id, limit, cursor)
        shown: list[MeasureFlag] = []
        for flag_id in ids:
            flag = self.measures.get_flag(flag_id)
            if flag is not None and self._may("measure.flag.list", flag.patient_id):
                shown.append(flag)
        ctx.runtime.audit.record(
            ctx.store, ctx.event("measure.flag.list", FLAG, reason_code=f"count_{len(shown)}")
        )
        return shown, next_cursor

    def acknowledge_flag(self, flag_id: str, note: str | None) -> MeasureFlag:
        """A care-team member (or their supervisor) records that they saw a risk flag and
        what they did; audited with the patient. Once only (409 after that)."""
        ctx = self.ctx
        action = "measure.flag.acknowledge"
        ctx.authorize_list(action, resource_kind=FLAG)
        flag = self.measures.get_flag(flag_id)
        if flag is None:
            raise NotFound()
        access = ctx.authorize(
            action, resource_kind=FLAG, resource_id=flag_id, patient_id=flag.patient_id
        )
        try:
            done = acknowledge_flag(flag, ctx.principal.user_id, ctx.now(), note)
        except FlagAlreadyAcknowledged as exc:
            raise Conflict("This flag was already acknowledged.") from exc
        try:
            ctx.write(
                access,
                lambda: [self.measures.acknowledge_flag_op(done)],
                FLAG,
                flag_id,
                patient_id=flag.patient_id,
            )
        except ConditionFailed as exc:  # acknowledged by someone else at the same moment
            raise Conflict("This flag was already acknowledged.") from exc
        return done

    # ---- helpers --------------------------------------------------------------------------

    def _flag_recipients(self, patient_id: str) -> tuple[str, ...]:
        """The care team, and the supervisors of its members (they answer for them)."""
        team = self.ctx.relationships.care_team(patient_id)
        people = list(team)
        for member in team:
            for supervisor in self.ctx.users.supervisors_of(member):
                if supervisor not in people:
                    people.append(supervisor)
        return tuple(people)

    def _load(self, action: str, request_id: str) -> tuple[Access, MeasureRequest]:
        """Role check first (403), then the record (404), then the relationship (404)."""
        ctx = self.ctx
        ctx.authorize_list(action, resource_kind=REQUEST)
        request = self.measures.get_request(request_id)
        if request is None:
            raise NotFound()
        access = ctx.authorize(
            action, resource_kind=REQUEST, resource_id=request_id, patient_id=request.patient_id
        )
        return access, request

    def _may(self, action: str, patient_id: str) -> bool:
        try:
            self.ctx.authorizer.check(
                self.ctx.principal, action, patient_id=patient_id, now=self.ctx.now()
            )
        except NotFound:
            return False
        return True

    def _today(self) -> date:
        """The day the patient answered, in the practice's zone (the form's date field)."""
        zone = ZoneInfo(get_practice(self.ctx.runtime.store, self.ctx.practice_id).timezone)
        return self.ctx.now().astimezone(zone).date()

    def _require_patient(self, patient_id: str) -> None:
        if PatientRepository(self.ctx.store, self.ctx.runtime.cipher).get(patient_id) is None:
            raise NotFound()

"""Intake and consent: intake templates, starting an intake for a patient, the staff queue
and review, and the patient's portal checklist (identity, forms, consents, insurance card,
first appointment). The workflow itself runs on Step Functions (statemachines/intake.asl.json;
tasks in functions/intake_tasks); these routes start it and answer its waits."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, ConfigDict, Field, Strict, model_validator

from tpm.api.app import create_app, lambda_entry
from tpm.api.context import Cursor, Limit, service_context
from tpm.api.idempotency import idempotent
from tpm.api.models import Instant, IsoDate, RequestModel
from tpm.api.responses import created, created_doc
from tpm.api.scheduling_models import (
    AppointmentView,
    BookableClinicianView,
    OverrideIn,
    SlotsView,
    SlotView,
)
from tpm.api.views import Page
from tpm.domain.intake import (
    PART2_TITLE,
    SERVICE_ID,
    Consent,
    ConsentItem,
    Effect,
    FormItem,
    FormResponse,
    Intake,
    IntakeTemplate,
    Part2Item,
    Step,
    StepState,
)
from tpm.domain.part2 import Purpose, RecipientKind
from tpm.domain.template_models import TEMPLATE_ID_PATTERN
from tpm.services.consents import ConsentService
from tpm.services.intake import IntakeDetail, IntakeService
from tpm.services.intake_portal import Checklist, FormView, PatientIntake
from tpm.services.intake_templates import IntakeTemplateService

app = create_app("intake")
TAGS = ["intake"]
PORTAL = ["portal"]
KEY = r"^[a-z][a-z0-9_]{0,39}$"
ID = r"^[a-z]{2,5}_[0-9a-z]{26}$"
# The portal sends card photos as base64 in JSON (docs/decisions.md, documents): 4 MiB of
# image is ~5.6 MB of JSON.
MAX_BODY = 5_700_000
VersionNumber = Annotated[int, Query(ge=1)]


# ---- templates -----------------------------------------------------------------------------


class FormItemIn(RequestModel):
    key: str = Field(pattern=KEY)
    template_id: str = Field(pattern=TEMPLATE_ID_PATTERN)
    template_version: int | None = Field(default=None, ge=1)
    required: bool = True


class ConsentItemIn(RequestModel):
    key: str = Field(pattern=KEY)
    template_id: str = Field(pattern=TEMPLATE_ID_PATTERN)
    template_version: int | None = Field(default=None, ge=1)
    revocable: bool = False
    effect: Annotated[Effect, Strict(False)] | None = Field(
        default=None, description="What revoking it does; library consents have their own."
    )


class Part2RecipientIn(RequestModel):
    kind: Annotated[RecipientKind, Strict(False)]
    key: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:@-]{1,64}$")
    name: str = Field(min_length=1, max_length=200)


class Part2ItemIn(RequestModel):
    """A 42 CFR Part 2 consent the intake asks for (the domain's Part2Item, as sent)."""

    key: Literal["part2"] = "part2"
    applies_to: Literal["everyone", "part2_patients"] = "part2_patients"
    disclosing_program: str = Field(min_length=1, max_length=200)
    information: str = Field(min_length=10, max_length=2000)
    recipients: list[Part2RecipientIn] = Field(min_length=1, max_length=20)
    purposes: list[Annotated[Purpose, Strict(False)]] = Field(min_length=1, max_length=4)
    purpose_description: str = Field(min_length=3, max_length=2000)
    expires_after_days: int | None = Field(default=None, ge=1, le=3650)
    expiration_event: str = Field(default="", max_length=500)


class IntakeTemplateIn(RequestModel):
    version: int = Field(ge=0, description="The current version (0 for a new template).")
    name: str = Field(min_length=1, max_length=120)
    forms: list[FormItemIn] = Field(default_factory=list, max_length=20)
    consents: list[ConsentItemIn] = Field(default_factory=list, max_length=12)
    part2: Part2ItemIn | None = Field(
        default=None,
        description="A 42 CFR Part 2 consent asked in the consents step (docs/intake.md).",
    )
    insurance_card: bool = False
    review: bool = True
    appointment: bool = True
    first_visit_service_id: str | None = Field(
        default=None,
        pattern=SERVICE_ID,
        description="The service the patient may book as the first visit from offered times.",
    )
    remind_after_hours: int = Field(default=72, ge=1, le=720)
    reminders_before_stall: int = Field(default=2, ge=0, le=10)


class IntakeTemplateView(BaseModel):
    id: str
    version: int
    name: str
    forms: list[FormItem]
    consents: list[ConsentItem]
    part2: Part2Item | None
    insurance_card: bool
    review: bool
    appointment: bool
    first_visit_service_id: str | None
    remind_after_hours: int
    reminders_before_stall: int
    steps: list[Step]
    created_at: datetime

    @classmethod
    def of(cls, t: IntakeTemplate) -> IntakeTemplateView:
        data = t.model_dump(include=set(cls.model_fields) - {"steps"})
        return cls.model_validate(data | {"steps": list(t.steps())})


@app.get("/v1/intake-templates", summary="The practice's intake templates", tags=TAGS)
def list_intake_templates() -> Page[IntakeTemplateView]:
    found = IntakeTemplateService(service_context(app)).list()
    return Page(items=[IntakeTemplateView.of(t) for t in found])


@app.post(
    "/v1/intake-templates",
    summary="Create an intake template",
    tags=TAGS,
    responses=created_doc(IntakeTemplateView),
    middlewares=[idempotent],
)
def create_intake_template(body: IntakeTemplateIn) -> Response[str]:
    fields = body.model_dump(exclude={"version"})
    saved = IntakeTemplateService(service_context(app)).save(None, body.version, fields)
    return created(IntakeTemplateView.of(saved), f"/v1/intake-templates/{saved.id}")


@app.get("/v1/intake-templates/<templateId>", summary="An intake template", tags=TAGS)
def get_intake_template(
    templateId: str,  # noqa: N803
    version: Annotated[int | None, Query(ge=1)] = None,
) -> IntakeTemplateView:
    return IntakeTemplateView.of(
        IntakeTemplateService(service_context(app)).get(templateId, version)
    )


@app.post(
    "/v1/intake-templates/<templateId>/versions",
    summary="Save the next version of an intake template",
    tags=TAGS,
    responses=created_doc(IntakeTemplateView),
    middlewares=[idempotent],
)
def new_intake_template_version(templateId: str, body: IntakeTemplateIn) -> Response[str]:  # noqa: N803
    fields = body.model_dump(exclude={"version"})
    saved = IntakeTemplateService(service_context(app)).save(templateId, body.version, fields)
    return created(IntakeTemplateView.of(saved), f"/v1/intake-templates/{saved.id}")


# ---- intakes (staff) -------------------------------------------------------------------------


class StartIntakeIn(RequestModel):
    template_id: str = Field(pattern=r"^itp_[0-9a-z]{26}$")


class IntakeView(BaseModel):
    id: str
    patient_id: str
    template_id: str
    template_version: int
    status: str
    current_step: Step | None
    steps: list[StepState]
    identity_verified_at: datetime | None
    appointment_id: str | None
    part2_decision: Literal["signed", "declined"] | None
    reviewer_id: str | None
    reminders_sent: int
    stalled_at: datetime | None
    run: int
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, i: Intake) -> IntakeView:
        return cls.model_validate(i.model_dump(include=set(cls.model_fields)))


class FormResponseView(BaseModel):
    key: str
    template_id: str
    template_version: int
    status: str
    content: dict[str, Any]
    content_hash: str
    score: dict[str, Any] | None
    submitted_at: datetime | None
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, f: FormResponse) -> FormResponseView:
        return cls.model_validate(f.model_dump(include=set(cls.model_fields)))


class ConsentView(BaseModel):
    id: str
    patient_id: str
    intake_id: str | None
    key: str
    template_id: str
    template_version: int
    title: str
    document_hash: str
    content_hash: str
    signer_user_id: str
    identity_verified_at: datetime
    signed_at: datetime
    source_ip: str
    user_agent: str
    revocable: bool
    effect: Effect
    document_id: str | None
    part2_consent_id: str | None
    status: str
    revoked_at: datetime | None
    revocation_effect: str | None

    @classmethod
    def of(cls, c: Consent) -> ConsentView:
        return cls.model_validate(c.model_dump(include=set(cls.model_fields)))


class CardView(BaseModel):
    side: str
    document_id: str
    captured_at: str


class IntakeDetailView(BaseModel):
    intake: IntakeView
    template: IntakeTemplateView
    review_comment: str | None
    content_visible: bool
    forms: list[FormResponseView]
    consents: list[ConsentView]
    insurance_cards: list[CardView]

    @classmethod
    def of(cls, d: IntakeDetail) -> IntakeDetailView:
        return cls(
            intake=IntakeView.of(d.intake),
            template=IntakeTemplateView.of(d.template),
            review_comment=d.intake.review_comment,
            content_visible=d.content_visible,
            forms=[FormResponseView.of(f) for f in d.forms.values()],
            consents=[ConsentView.of(c) for c in d.consents],
            insurance_cards=[
                CardView(
                    side=str(c["side"]),
                    document_id=str(c["document_id"]),
                    captured_at=str(c["captured_at"]),
                )
                for c in d.cards.values()
            ],
        )


class ReviewIn(RequestModel):
    version: int = Field(ge=1)
    decision: Literal["approve", "request_changes"]
    step: Literal["forms", "consents", "insurance"] | None = None
    comment: str | None = Field(default=None, min_length=1, max_length=2000)


class IntakeVersionIn(RequestModel):
    version: int = Field(ge=1)


@app.post(
    "/v1/patients/<patientId>/intakes",
    summary="Start an intake: portal invitation, then the intake workflow",
    tags=TAGS,
    responses=created_doc(IntakeView),
    middlewares=[idempotent],
)
def start_intake(patientId: str, body: StartIntakeIn) -> Response[str]:  # noqa: N803
    intake = IntakeService(service_context(app)).start(patientId, body.template_id)
    return created(IntakeView.of(intake), f"/v1/intakes/{intake.id}")


@app.get("/v1/patients/<patientId>/intakes", summary="A patient's intakes", tags=TAGS)
def patient_intakes(patientId: str) -> Page[IntakeView]:  # noqa: N803
    found = IntakeService(service_context(app)).for_patient(patientId)
    return Page(items=[IntakeView.of(i) for i in found])


@app.get("/v1/intakes", summary="The intake queue: open intakes, stalled first", tags=TAGS)
def intake_queue(limit: Limit = 25, cursor: Cursor = None) -> Page[IntakeView]:
    found, next_cursor = IntakeService(service_context(app)).queue(limit, cursor)
    return Page(items=[IntakeView.of(i) for i in found], next_cursor=next_cursor)


@app.get("/v1/intakes/<intakeId>", summary="An intake for review", tags=TAGS)
def get_intake(intakeId: str) -> IntakeDetailView:  # noqa: N803
    return IntakeDetailView.of(IntakeService(service_context(app)).detail(intakeId))


@app.post("/v1/intakes/<intakeId>/review", summary="Approve, or send back to a step", tags=TAGS)
def review_intake(intakeId: str, body: ReviewIn) -> IntakeView:  # noqa: N803
    service = IntakeService(service_context(app))
    step = Step(body.step) if body.step else None
    return IntakeView.of(service.review(intakeId, body.version, body.decision, step, body.comment))


@app.post(
    "/v1/intakes/<intakeId>/resend-invitation", summary="Send the invitation again", tags=TAGS
)
def resend_intake_invitation(intakeId: str) -> IntakeView:  # noqa: N803
    return IntakeView.of(IntakeService(service_context(app)).resend_invitation(intakeId))


@app.post("/v1/intakes/<intakeId>/cancel", summary="Cancel an intake", tags=TAGS)
def cancel_intake(intakeId: str, body: IntakeVersionIn) -> IntakeView:  # noqa: N803
    return IntakeView.of(IntakeService(service_context(app)).cancel(intakeId, body.version))


@app.post("/v1/intakes/<intakeId>/restart", summary="Restart the intake workflow", tags=TAGS)
def restart_intake(intakeId: str, body: IntakeVersionIn) -> IntakeView:  # noqa: N803
    return IntakeView.of(IntakeService(service_context(app)).restart(intakeId, body.version))


class StaffBookingIn(RequestModel):
    clinician_id: str = Field(pattern=ID)
    service_id: str = Field(pattern=ID)
    location_id: str = Field(pattern=ID)
    start: Instant
    override: OverrideIn | None = Field(
        default=None,
        description="Needed only outside the clinician's availability (else 422).",
    )


class StaffFirstVisitIn(RequestModel):
    """Exactly one of: book a visit now (`booking`), or link one already booked."""

    version: int = Field(ge=1)
    appointment_id: str | None = Field(default=None, pattern=r"^apt_[0-9a-z]{26}$")
    booking: StaffBookingIn | None = None

    @model_validator(mode="after")
    def _one(self) -> StaffFirstVisitIn:
        if (self.appointment_id is None) == (self.booking is None):
            raise ValueError("give either appointment_id or booking")
        return self


class FirstVisitOut(BaseModel):
    intake: IntakeView
    appointment: AppointmentView


@app.post(
    "/v1/intakes/<intakeId>/appointment",
    summary="Book or link the first visit (staff)",
    tags=TAGS,
)
def book_intake_first_visit(intakeId: str, body: StaffFirstVisitIn) -> FirstVisitOut:  # noqa: N803
    b = body.booking
    booking = (
        (
            b.clinician_id,
            b.service_id,
            b.location_id,
            b.start,
            b.override.reason if b.override else None,
        )
        if b
        else None
    )
    appointment, intake = IntakeService(service_context(app)).first_visit(
        intakeId, body.version, body.appointment_id, booking
    )
    return FirstVisitOut(intake=IntakeView.of(intake), appointment=AppointmentView.of(appointment))


class FormVersionView(BaseModel):
    n: int
    event: str
    at: str
    by: str
    content_hash: str
    chain_hash: str


class ChangeView(BaseModel):
    path: str
    op: str
    before: Any = None
    after: Any = None


class IntakeDiffOut(BaseModel):
    changes: list[ChangeView]


class FormIn(RequestModel):
    version: int = Field(ge=0, description="The response's current version (0: none yet).")
    content: dict[str, Any]
    submit: bool = False


@app.get(
    "/v1/intakes/<intakeId>/forms/<key>/versions", summary="A form response's history", tags=TAGS
)
def intake_form_versions(intakeId: str, key: str) -> Page[FormVersionView]:  # noqa: N803
    found = IntakeService(service_context(app)).form_versions(intakeId, key)
    return Page(items=[FormVersionView(**v) for v in found])


@app.get(
    "/v1/intakes/<intakeId>/forms/<key>/diff",
    summary="Field changes between two versions",
    tags=TAGS,
)
def intake_form_diff(
    intakeId: str,  # noqa: N803
    key: str,
    start: Annotated[int, Query(alias="from", ge=1)],
    end: Annotated[int, Query(alias="to", ge=1)],
) -> IntakeDiffOut:
    changes = IntakeService(service_context(app)).form_diff(intakeId, key, start, end)
    return IntakeDiffOut(
        changes=[ChangeView(path=c.path, op=c.op, before=c.before, after=c.after) for c in changes]
    )


@app.put("/v1/intakes/<intakeId>/forms/<key>", summary="Amend a submitted form (staff)", tags=TAGS)
def amend_intake_form(intakeId: str, key: str, body: FormIn) -> FormResponseView:  # noqa: N803
    form = IntakeService(service_context(app)).amend_form(intakeId, key, body.content, body.version)
    return FormResponseView.of(form)


@app.get("/v1/patients/<patientId>/consents", summary="A patient's consents", tags=TAGS)
def patient_consents(patientId: str) -> Page[ConsentView]:  # noqa: N803
    found = ConsentService(service_context(app)).for_patient(patientId)
    return Page(items=[ConsentView.of(c) for c in found])


@app.post("/v1/consents/<consentId>/revoke", summary="Revoke a consent", tags=TAGS)
def revoke_consent(consentId: str) -> ConsentView:  # noqa: N803
    return ConsentView.of(ConsentService(service_context(app)).revoke(consentId))


# ---- the portal ------------------------------------------------------------------------------


class ChecklistItem(BaseModel):
    key: str
    kind: Literal["form", "consent", "part2"]
    title: str
    status: Literal["todo", "draft", "done", "declined"]


class ChecklistView(BaseModel):
    intake_id: str
    status: str
    current_step: Step | None
    steps: list[StepState]
    identity_verified: bool
    review_comment: str | None
    forms: list[ChecklistItem]
    consents: list[ChecklistItem]
    insurance_card: bool
    cards: list[str]
    version: int


def _checklist(c: Checklist, titles: dict[str, str]) -> ChecklistView:
    forms = [
        ChecklistItem(
            key=f.key,
            kind="form",
            title=titles.get(f.key, f.key),
            status="done"
            if (r := c.forms.get(f.key)) and r.status.value == "submitted"
            else "draft"
            if r
            else "todo",
        )
        for f in c.template.forms
    ]
    consents = [
        ChecklistItem(
            key=k.key,
            kind="consent",
            title=titles.get(k.key, k.key),
            status="done" if k.key in c.signed else "todo",
        )
        for k in c.template.consents
    ]
    if c.part2_applies:
        decision = c.intake.part2_decision
        status: Literal["todo", "declined", "done"] = (
            "todo" if decision is None else "declined" if decision == "declined" else "done"
        )
        consents.append(ChecklistItem(key="part2", kind="part2", title=PART2_TITLE, status=status))
    return ChecklistView(
        intake_id=c.intake.id,
        status=c.intake.status.value,
        current_step=c.intake.current_step,
        steps=list(c.intake.steps),
        identity_verified=c.intake.identity_verified_at is not None,
        review_comment=c.intake.review_comment,
        forms=forms,
        consents=consents,
        insurance_card=c.template.insurance_card,
        cards=sorted(c.cards),
        version=c.intake.version,
    )


@app.get("/v1/me/intake", summary="My intake checklist", tags=PORTAL)
def my_intake() -> ChecklistView:
    ctx = service_context(app)
    service = PatientIntake(ctx)
    checklist = service.checklist()
    titles: dict[str, str] = {}
    items: list[FormItem | ConsentItem] = [*checklist.template.forms, *checklist.template.consents]
    for item in items:
        titles[item.key] = service.catalog.resolve(item.template_id, item.template_version).title
    return _checklist(checklist, titles)


class DobIn(RequestModel):
    date_of_birth: IsoDate


class CodeSentOut(BaseModel):
    sent_to: Literal["email", "sms"]


class CodeIn(RequestModel):
    code: str = Field(pattern=r"^[0-9]{6}$")


@app.post("/v1/me/intake/identity", summary="Confirm my date of birth; a code is sent", tags=PORTAL)
def my_identity(body: DobIn) -> CodeSentOut:
    channel = PatientIntake(service_context(app)).verify_dob(body.date_of_birth)
    return CodeSentOut(sent_to="sms" if channel == "sms" else "email")


@app.post("/v1/me/intake/identity/code", summary="Enter the one-time code", tags=PORTAL)
def my_identity_code(body: CodeIn) -> IntakeView:
    return IntakeView.of(PatientIntake(service_context(app)).verify_code(body.code))


class PortalFormView(BaseModel):
    key: str
    kind: Literal["form", "consent"]
    template_id: str
    template_version: int
    title: str
    description: str
    instructions: str | None
    layout: list[dict[str, Any]]
    schema_: dict[str, Any] = Field(alias="schema", serialization_alias="schema")
    document_hash: str | None
    response: FormResponseView | None

    model_config = ConfigDict(populate_by_name=True)

    @classmethod
    def of(cls, v: FormView) -> PortalFormView:
        t = v.template
        return cls(
            key=v.item.key,
            kind="consent" if isinstance(v.item, ConsentItem) else "form",
            template_id=t.id,
            template_version=t.version,
            title=t.title,
            description=t.description,
            instructions=t.instructions,
            layout=[s.model_dump() for s in t.layout],
            schema_=t.content_schema,
            document_hash=v.document_hash,
            response=FormResponseView.of(v.response) if v.response else None,
        )


@app.get("/v1/me/intake/forms/<key>", summary="A form or consent of my intake", tags=PORTAL)
def my_intake_form(key: str) -> PortalFormView:
    return PortalFormView.of(PatientIntake(service_context(app)).form(key))


@app.put("/v1/me/intake/forms/<key>", summary="Save or submit a form of my intake", tags=PORTAL)
def save_my_intake_form(key: str, body: FormIn) -> FormResponseView:
    form = PatientIntake(service_context(app)).save_form(
        key, body.content, body.submit, body.version
    )
    return FormResponseView.of(form)


class ConsentSignIn(RequestModel):
    content: dict[str, Any]
    signer_name: str = Field(min_length=1, max_length=200, description="Typed full name.")
    document_hash: str = Field(pattern=r"^[0-9a-f]{64}$", description="The hash shown with it.")
    agree: Literal[True]


@app.post(
    "/v1/me/intake/consents/<key>/sign",
    summary="Sign a consent of my intake",
    tags=PORTAL,
    responses=created_doc(ConsentView),
    middlewares=[idempotent],
)
def sign_my_consent(key: str, body: ConsentSignIn) -> Response[str]:
    consent = PatientIntake(service_context(app)).sign(
        key, body.content, body.signer_name, body.document_hash
    )
    return created(ConsentView.of(consent), f"/v1/consents/{consent.id}")


class Part2DocumentView(BaseModel):
    document: dict[str, Any] = Field(
        description="Every element of 42 CFR 2.31 as shown, and the three statements."
    )
    document_hash: str = Field(description="What signing confirms was shown.")
    applies: bool = Field(description="Asked of this patient (else the step needs none).")
    decision: Literal["signed", "declined"] | None


@app.get("/v1/me/intake/part2", summary="The 42 CFR Part 2 consent of my intake", tags=PORTAL)
def my_intake_part2() -> Part2DocumentView:
    intake, _, shown, doc_hash, applies = PatientIntake(service_context(app)).part2()
    return Part2DocumentView(
        document=shown, document_hash=doc_hash, applies=applies, decision=intake.part2_decision
    )


class Part2DecisionIn(RequestModel):
    """Sign (typed name, the hash shown, agree) or decline: it is voluntary."""

    decision: Literal["sign", "decline"]
    signer_name: str | None = Field(default=None, min_length=1, max_length=200)
    document_hash: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    agree: Literal[True] | None = None

    @model_validator(mode="after")
    def _signature(self) -> Part2DecisionIn:
        if self.decision == "sign" and not (self.signer_name and self.document_hash and self.agree):
            raise ValueError("signing needs signer_name, document_hash and agree")
        return self


class Part2DecisionOut(BaseModel):
    intake: IntakeView
    consent: ConsentView | None


@app.post(
    "/v1/me/intake/part2",
    summary="Sign or decline the 42 CFR Part 2 consent of my intake",
    tags=PORTAL,
)
def decide_my_intake_part2(body: Part2DecisionIn) -> Part2DecisionOut:
    intake, consent = PatientIntake(service_context(app)).part2_decide(
        body.decision == "sign", body.signer_name, body.document_hash
    )
    return Part2DecisionOut(
        intake=IntakeView.of(intake), consent=ConsentView.of(consent) if consent else None
    )


class CardIn(RequestModel):
    content_base64: str = Field(min_length=1, max_length=MAX_BODY)


class CardOut(BaseModel):
    side: str
    document_id: str


@app.post(
    "/v1/me/intake/insurance-card/<side>",
    summary="Upload a photo of my insurance card (front or back)",
    tags=PORTAL,
    responses=created_doc(CardOut),
    middlewares=[idempotent],
)
def upload_my_card(side: str, body: CardIn) -> Response[str]:
    document = PatientIntake(service_context(app)).upload_card(side, body.content_base64)
    return created(CardOut(side=side, document_id=document.id))


class ServiceOffer(BaseModel):
    id: str
    name: str
    duration_minutes: int


class FirstVisitOfferView(BaseModel):
    service: ServiceOffer | None = Field(
        description="What may be booked from offered times; null: the practice books it."
    )
    clinicians: list[BookableClinicianView]
    booked: list[AppointmentView] = Field(description="Upcoming visits already booked.")


@app.get(
    "/v1/me/intake/appointment",
    summary="What my intake offers for the first visit",
    tags=PORTAL,
)
def my_intake_first_visit() -> FirstVisitOfferView:
    _, offer = PatientIntake(service_context(app)).first_visit()
    service = offer.service
    return FirstVisitOfferView(
        service=ServiceOffer(
            id=service.id,
            name=service.name,
            duration_minutes=service.duration_minutes,
        )
        if service
        else None,
        clinicians=[BookableClinicianView.of(u) for u in offer.clinicians],
        booked=[AppointmentView.of(a) for a in offer.booked],
    )


@app.get("/v1/me/intake/slots", summary="Times offered for my first visit", tags=PORTAL)
def my_intake_slots(
    clinician_id: Annotated[str, Query(pattern=ID)],
    first: Annotated[IsoDate, Query(alias="from", description="First local date")],
    last: Annotated[IsoDate, Query(alias="to", description="Last local date (inclusive)")],
) -> SlotsView:
    found = PatientIntake(service_context(app)).first_visit_slots(clinician_id, first, last)
    return SlotsView(items=[SlotView.of(s) for s in found])


class FirstVisitBookingIn(RequestModel):
    clinician_id: str = Field(pattern=ID)
    location_id: str = Field(pattern=ID)
    start: Instant


class FirstVisitIn(RequestModel):
    """Exactly one of: book an offered time (`booking`), or confirm a visit already
    booked (`appointment_id`)."""

    appointment_id: str | None = Field(default=None, pattern=r"^apt_[0-9a-z]{26}$")
    booking: FirstVisitBookingIn | None = None

    @model_validator(mode="after")
    def _one(self) -> FirstVisitIn:
        if (self.appointment_id is None) == (self.booking is None):
            raise ValueError("give either appointment_id or booking")
        return self


@app.post(
    "/v1/me/intake/appointment",
    summary="Book my first visit from the offered times, or confirm one booked",
    tags=PORTAL,
)
def my_intake_appointment(body: FirstVisitIn) -> IntakeView:
    b = body.booking
    booking = (b.clinician_id, b.location_id, b.start) if b else None
    changed = PatientIntake(service_context(app)).appointment(body.appointment_id, booking)
    return IntakeView.of(changed)


@app.get("/v1/me/consents", summary="My consents", tags=PORTAL)
def my_consents() -> Page[ConsentView]:
    return Page(items=[ConsentView.of(c) for c in ConsentService(service_context(app)).mine()])


lambda_handler = lambda_entry(app, "intake", max_body_bytes=MAX_BODY)

"""Intake: from invitation to first visit. Pure rules, no I/O.

A practice configures its intake as an *intake template* (versioned; a running intake keeps
the version it started with): the forms to fill (any template of the library or the
practice's own — registration, history, PHQ-9/GAD-7 baselines …), the consents to sign
(consent templates; which of them can be revoked, and what revoking does), whether an
insurance card is asked for, and the reminder cadence. An *intake* is one patient's run of
it: a checklist of steps the workflow (statemachines/intake.asl.json) opens one after the
other and the patient completes in the portal; a clinician reviews, approves or sends the
patient back to one step with a comment; then a first appointment is booked.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tpm.domain.part2 import Purpose, Recipient
from tpm.domain.template_models import TEMPLATE_ID_PATTERN


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Step(StrEnum):
    IDENTITY = "identity"
    FORMS = "forms"
    CONSENTS = "consents"
    INSURANCE = "insurance"
    REVIEW = "review"
    APPOINTMENT = "appointment"


# The order the workflow opens them in; a template switches the optional ones off.
STEP_ORDER: Final = (
    Step.IDENTITY,
    Step.FORMS,
    Step.CONSENTS,
    Step.INSURANCE,
    Step.REVIEW,
    Step.APPOINTMENT,
)
PATIENT_STEPS: Final = frozenset({Step.IDENTITY, Step.FORMS, Step.CONSENTS, Step.INSURANCE})
# Review can send the patient back to these.
REOPENABLE: Final = frozenset({Step.FORMS, Step.CONSENTS, Step.INSURANCE})


class Effect(StrEnum):
    """What signing (and revoking) a consent changes elsewhere."""

    NONE = "none"
    SMS_REMINDERS = "sms_reminders"  # signed: SMS reminders on; revoked: off at once
    TELEHEALTH = "telehealth"  # revoked: telehealth visits need a new consent
    RELEASE = "release_of_information"  # revoked: no further disclosures under it
    PART2 = "part2"  # 42 CFR Part 2: revoked, no further disclosure of SUD records


# Consent templates of the library and what revoking them does. A practice's own consent
# template (category consent) is not revocable unless its intake template says so.
BUILTIN_CONSENTS: Final[dict[str, tuple[bool, Effect]]] = {
    "informed_consent_treatment": (False, Effect.NONE),
    "financial_policy_acknowledgement": (False, Effect.NONE),
    "privacy_notice_acknowledgement": (False, Effect.NONE),
    "cancellation_policy_acknowledgement": (False, Effect.NONE),
    "telehealth_consent": (True, Effect.TELEHEALTH),
    "electronic_communication_consent": (True, Effect.SMS_REMINDERS),
    "release_of_information_authorization": (True, Effect.RELEASE),
    "minor_consent_assent": (False, Effect.NONE),
    "conjoint_therapy_consent": (False, Effect.NONE),
}

FormKey = str  # a slug naming a form within an intake template ("registration")
_KEY = r"^[a-z][a-z0-9_]{0,39}$"
SERVICE_ID = r"^svc_[0-9a-z]{26}$"


class FormItem(_Frozen):
    key: str = Field(pattern=_KEY)
    template_id: str = Field(pattern=TEMPLATE_ID_PATTERN)
    template_version: int | None = Field(default=None, ge=1)  # None: pinned on save
    required: bool = True


class ConsentItem(_Frozen):
    key: str = Field(pattern=_KEY)
    template_id: str = Field(pattern=TEMPLATE_ID_PATTERN)
    template_version: int | None = Field(default=None, ge=1)
    revocable: bool = False
    effect: Effect = Effect.NONE


class Part2Item(_Frozen):
    """A 42 CFR Part 2 consent the intake asks for (docs/compliance.md): the practice's
    program and what it would disclose, to whom, why and until when. The patient's name
    (from the record), signature and date come from the signing; the revocation,
    redisclosure and not-conditioned statements (tpm.domain.part2) are always shown. What is
    signed is the compliance module's `Part2Consent`, the one every disclosure check reads.

    Signing is voluntary — treatment is not conditioned on it — so the patient signs or
    declines, and either completes the step. `applies_to`: everyone the intake invites, or
    only patients whose records are labelled Part 2 when the consents step opens."""

    key: Literal["part2"] = "part2"
    applies_to: Literal["everyone", "part2_patients"] = "part2_patients"
    disclosing_program: str = Field(min_length=1, max_length=200)
    information: str = Field(min_length=10, max_length=2000)
    recipients: tuple[Recipient, ...] = Field(min_length=1, max_length=20)
    purposes: tuple[Purpose, ...] = Field(min_length=1, max_length=4)
    purpose_description: str = Field(min_length=3, max_length=2000)
    expires_after_days: int | None = Field(default=None, ge=1, le=3650)
    expiration_event: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _expiry(self) -> Part2Item:
        if self.expires_after_days is None and not self.expiration_event.strip():
            raise ValueError("a Part 2 consent needs an expiration (days or an event)")
        return self


class IntakeTemplate(_Frozen):
    id: str
    version: int = Field(ge=1)
    name: str = Field(min_length=1, max_length=120)
    forms: tuple[FormItem, ...] = Field(default=(), max_length=20)
    consents: tuple[ConsentItem, ...] = Field(default=(), max_length=12)
    part2: Part2Item | None = None  # a 42 CFR Part 2 consent in the consents step
    insurance_card: bool = False
    review: bool = True
    appointment: bool = True
    # The first visit the patient may book from offered slots (the appointment step);
    # None: staff book it (or the patient confirms one already booked).
    first_visit_service_id: str | None = Field(default=None, pattern=SERVICE_ID)
    remind_after_hours: int = Field(default=72, ge=1, le=720)
    reminders_before_stall: int = Field(default=2, ge=0, le=10)
    created_at: datetime
    created_by: str

    @model_validator(mode="after")
    def _unique_keys(self) -> IntakeTemplate:
        keys = [f.key for f in self.forms] + [c.key for c in self.consents]
        keys += [self.part2.key] if self.part2 is not None else []
        if len(keys) != len(set(keys)):
            raise ValueError("form and consent keys must be unique")
        return self

    def steps(self) -> tuple[Step, ...]:
        on = {
            Step.IDENTITY: True,
            Step.FORMS: bool(self.forms),
            Step.CONSENTS: bool(self.consents) or self.part2 is not None,
            Step.INSURANCE: self.insurance_card,
            Step.REVIEW: self.review,
            Step.APPOINTMENT: self.appointment,
        }
        return tuple(s for s in STEP_ORDER if on[s])

    def form(self, key: str) -> FormItem | ConsentItem | None:
        for form in self.forms:
            if form.key == key:
                return form
        for consent in self.consents:
            if consent.key == key:
                return consent
        return None


class IntakeStatus(StrEnum):
    INVITED = "invited"  # waiting for the patient to activate and verify
    IN_PROGRESS = "in_progress"  # the patient is working through the steps
    IN_REVIEW = "in_review"
    CHANGES_REQUESTED = "changes_requested"
    SCHEDULING = "scheduling"
    COMPLETED = "completed"
    STALLED = "stalled"  # reminders ran out: in the staff queue
    CANCELLED = "cancelled"


OPEN_STATUSES: Final = frozenset(
    {
        IntakeStatus.INVITED,
        IntakeStatus.IN_PROGRESS,
        IntakeStatus.IN_REVIEW,
        IntakeStatus.CHANGES_REQUESTED,
        IntakeStatus.SCHEDULING,
        IntakeStatus.STALLED,
    }
)


class StepStatus(StrEnum):
    PENDING = "pending"  # not opened yet
    OPEN = "open"  # the workflow waits for it
    DONE = "done"
    CHANGES_REQUESTED = "changes_requested"


class StepState(_Frozen):
    step: Step
    status: StepStatus = StepStatus.PENDING
    opened_at: datetime | None = None
    done_at: datetime | None = None


class Intake(_Frozen):
    id: str
    patient_id: str
    template_id: str
    template_version: int
    status: IntakeStatus = IntakeStatus.INVITED
    steps: tuple[StepState, ...]
    current_step: Step | None = None
    review_comment: str | None = None  # PHI (sealed): why the patient was sent back
    identity_verified_at: datetime | None = None
    reviewer_id: str | None = None
    appointment_id: str | None = None
    part2_decision: Literal["signed", "declined"] | None = None
    started_by: str
    created_at: datetime
    updated_at: datetime
    stalled_at: datetime | None = None
    reminders_sent: int = 0
    run: int = 1  # restarts make a new workflow execution: intake-<id>-<run>
    execution_id: str | None = None
    version: int = 1

    def state(self, step: Step) -> StepState | None:
        return next((s for s in self.steps if s.step == step), None)

    def bump(self, now: datetime, **changes: Any) -> Intake:
        return self.model_copy(update={**changes, "updated_at": now, "version": self.version + 1})

    def with_step(self, step: Step, status: StepStatus, now: datetime) -> tuple[StepState, ...]:
        out = []
        for s in self.steps:
            if s.step != step:
                out.append(s)
            elif status == StepStatus.OPEN:
                out.append(s.model_copy(update={"status": status, "opened_at": now}))
            elif status == StepStatus.DONE:
                out.append(s.model_copy(update={"status": status, "done_at": now}))
            else:
                out.append(s.model_copy(update={"status": status, "done_at": None}))
        return tuple(out)


def new_steps(template: IntakeTemplate) -> tuple[StepState, ...]:
    return tuple(StepState(step=s) for s in template.steps())


class IntakeRuleError(ValueError):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def require_open_step(intake: Intake, step: Step) -> None:
    """The patient may act on a step only while the workflow waits for it (or, for forms
    and consents, while it is open again after a change request)."""
    state = intake.state(step)
    if intake.status not in OPEN_STATUSES or intake.status == IntakeStatus.STALLED:
        raise IntakeRuleError("intake_not_open")
    if state is None or state.status not in (StepStatus.OPEN, StepStatus.CHANGES_REQUESTED):
        raise IntakeRuleError("step_not_open")
    if step != Step.IDENTITY and intake.identity_verified_at is None:
        raise IntakeRuleError("identity_not_verified")


# ---- identity verification -----------------------------------------------------------------

MAX_DOB_ATTEMPTS: Final = 5
MAX_CODE_ATTEMPTS: Final = 5
CODE_TTL_SECONDS: Final = 15 * 60


class Verification(_Frozen):
    """One patient's identity check for one intake: date of birth, then a one-time code
    sent to the contact on file. Attempts are limited; the code is stored hashed."""

    intake_id: str
    dob_attempts: int = 0
    code_attempts: int = 0
    code_hash: str | None = None
    code_sent_at: datetime | None = None
    channel: str | None = None  # "email" | "sms": where the code went
    verified_at: datetime | None = None
    locked_at: datetime | None = None
    version: int = 1


def dob_matches(on_file: date, given: date) -> bool:
    return on_file == given


def code_hash(intake_id: str, code: str) -> str:
    return hashlib.sha256(f"{intake_id}|{code}".encode()).hexdigest()


# ---- consents -------------------------------------------------------------------------------


def document_hash(template_definition: dict[str, Any]) -> str:
    """The hash of the exact consent document shown: its template, canonical JSON."""
    raw = json.dumps(
        template_definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()
    return hashlib.sha256(raw).hexdigest()


class ConsentStatus(StrEnum):
    SIGNED = "signed"
    REVOKED = "revoked"


class Consent(_Frozen):
    """A signed consent and its e-signature evidence."""

    id: str
    patient_id: str
    intake_id: str | None
    key: str
    template_id: str
    template_version: int
    title: str
    document_hash: str  # of the template as shown
    content_hash: str  # of what the patient filled in (acknowledgements, typed name)
    content: dict[str, Any]  # PHI (sealed)
    signer_user_id: str
    signer_name: str  # PHI (sealed): the typed name
    identity_verified_at: datetime
    signed_at: datetime
    source_ip: str
    user_agent: str = Field(max_length=512)
    revocable: bool
    effect: Effect
    document_id: str | None = None  # the signed PDF (a patient document)
    part2_consent_id: str | None = None  # effect part2: the compliance record it made
    status: ConsentStatus = ConsentStatus.SIGNED
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    revocation_effect: str | None = None
    version: int = 1

    @field_validator("content")
    @classmethod
    def _bounded(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(json.dumps(value)) > 64_000:
            raise ValueError("consent content too large")
        return value


# ---- form responses --------------------------------------------------------------------------


class FormStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"


class FormResponse(_Frozen):
    """A patient's answers to one form (or consent form) of an intake. Versioned like a
    note (tpm.domain.notes: every save is a version with who, when, content hash and a
    chain hash); a change after submission — the patient during review, or staff — is a
    new version, never an overwrite."""

    intake_id: str
    key: str
    patient_id: str
    template_id: str
    template_version: int
    status: FormStatus = FormStatus.DRAFT
    content: dict[str, Any] = Field(default_factory=dict)  # PHI (sealed)
    content_hash: str
    chain_hash: str
    submitted_at: datetime | None = None
    score: dict[str, Any] | None = None  # measures (PHQ-9, GAD-7): PHI (sealed)
    updated_at: datetime
    version: int = 1

    @property
    def record_id(self) -> str:
        """The id the version chain is built on (notes' `note_id`)."""
        return f"{self.intake_id}.{self.key}"


def next_form_step_done(
    template: IntakeTemplate,
    forms: dict[str, FormResponse],
    consents: set[str],
    part2_pending: bool = False,
) -> dict[Step, bool]:
    """Which checklist steps the patient's submissions complete (`part2_pending`: the
    template's Part 2 consent applies to this patient and they have not decided yet)."""
    required_forms = [f.key for f in template.forms if f.required]
    return {
        Step.FORMS: all(
            k in forms and forms[k].status == FormStatus.SUBMITTED for k in required_forms
        ),
        Step.CONSENTS: all(c.key in consents for c in template.consents) and not part2_pending,
    }


def part2_applies(template: IntakeTemplate, labelled_part2: bool) -> bool:
    """Whether this intake asks this patient for the Part 2 consent."""
    item = template.part2
    return item is not None and (item.applies_to == "everyone" or labelled_part2)


PART2_TITLE: Final = "Consent to disclose substance use disorder treatment records (42 CFR Part 2)"


def part2_document(
    item: Part2Item, patient_name: str, signed_on: date, expires_on: date | None
) -> dict[str, Any]:
    """The exact Part 2 consent shown to the patient: every element 42 CFR 2.31 requires
    and the three statements. Its hash is what the patient signs."""
    from tpm.domain.part2 import (
        NOT_CONDITIONED_STATEMENT,
        REDISCLOSURE_NOTICE,
        REVOCATION_STATEMENT,
    )

    return {
        "title": PART2_TITLE,
        "patient_name": patient_name,
        "disclosing_program": item.disclosing_program,
        "information": item.information,
        "recipients": [r.model_dump(mode="json") for r in item.recipients],
        "purposes": [p.value for p in item.purposes],
        "purpose_description": item.purpose_description,
        "signed_on": signed_on.isoformat(),
        "expires_on": expires_on.isoformat() if expires_on else None,
        "expiration_event": item.expiration_event,
        "revocation_statement": REVOCATION_STATEMENT,
        "redisclosure_statement": REDISCLOSURE_NOTICE,
        "not_conditioned_statement": NOT_CONDITIONED_STATEMENT,
    }

"""Measures sent to patients (PHQ-9, GAD-7, …): requests, completed responses, risk flags,
and the form a patient answers in the portal. Pure: no I/O.

A request pins the template version it was sent with, so a later template version never
changes what a patient was asked or how their answers were scored. Answers and scores are
PHI: the repository seals them.

Only instruments whose licence lets us show their wording (`item_text_included`) can be
sent to the portal. A patient answering "Scored 0 … Scored 3" for "Item 1" (the EPDS, whose
wording we may not reproduce) would not be taking the instrument at all: its scores would be
meaningless, and its suicide-risk item would not be asked. Those stay clinician-entered.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tpm.domain.template_models import Option, Template

RequestStatus = Literal["open", "completed"]


class MeasureRuleError(ValueError):
    """A request the rules refuse; `fields` holds (path, machine-readable type) pairs."""

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        super().__init__(", ".join(f"{p}: {t}" for p, t in fields))
        self.fields = fields


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MeasureRequest(_Record):
    id: str = Field(pattern=r"^mrq_[0-9a-z]{26}$")
    patient_id: str
    template_id: str
    template_version: int = Field(ge=1)
    due_at: datetime | None = None
    appointment_id: str | None = None
    requested_by: str
    created_at: datetime
    status: RequestStatus = "open"
    completed_at: datetime | None = None
    response_id: str | None = None
    version: int = Field(default=1, ge=1)


class MeasureResponse(_Record):
    id: str = Field(pattern=r"^mrs_[0-9a-z]{26}$")
    request_id: str
    patient_id: str
    template_id: str
    template_version: int = Field(ge=1)
    answers: dict[str, int]
    total: int
    band: str
    flags: tuple[str, ...] = ()
    completed_at: datetime
    submitted_by: str


class MeasureFlag(_Record):
    """Risk flags raised by one response, addressed to the patient's care team as it was
    when the patient submitted (`notified`)."""

    id: str = Field(pattern=r"^mfl_[0-9a-z]{26}$")
    patient_id: str
    response_id: str
    template_id: str
    flags: tuple[str, ...] = Field(min_length=1)
    raised_at: datetime
    notified: tuple[str, ...] = ()
    version: int = Field(default=1, ge=1)
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    acknowledgement_note: str | None = None  # sealed when stored: it may say anything


class FlagAlreadyAcknowledged(ValueError):
    """A risk flag is acknowledged once; the first acknowledgement stands."""


def acknowledge_flag(
    flag: MeasureFlag, user_id: str, at: datetime, note: str | None
) -> MeasureFlag:
    """Who saw the flag and when (with an optional note on what they did)."""
    if flag.acknowledged_at is not None:
        raise FlagAlreadyAcknowledged(flag.id)
    return flag.model_copy(
        update={
            "acknowledged_by": user_id,
            "acknowledged_at": at,
            "acknowledgement_note": note or None,
            "version": flag.version + 1,
        }
    )


# ---- sending --------------------------------------------------------------------------


def check_sendable(template: Template, care_team: list[str]) -> None:
    """A measure can go to the portal if it is scored, its wording may be shown, and a
    clinician will read the result (someone must see a risk flag)."""
    if template.scoring is None:
        raise MeasureRuleError([("template_id", "not_a_measure")])
    if template.item_text_included is not True:
        raise MeasureRuleError([("template_id", "not_self_report")])
    if not care_team:
        raise MeasureRuleError([("patient_id", "no_care_team")])


def check_due(due_at: datetime | None, now: datetime) -> None:
    if due_at is not None and due_at <= now:
        raise MeasureRuleError([("due_at", "in_past")])


def complete(request: MeasureRequest, response_id: str, at: datetime) -> MeasureRequest:
    if request.status != "open":
        raise ValueError("only an open request can be completed")
    return request.model_copy(
        update={
            "status": "completed",
            "completed_at": at,
            "response_id": response_id,
            "version": request.version + 1,
        }
    )


# ---- the portal form -------------------------------------------------------------------


class FormItem(_Record):
    id: str
    number: int
    text: str | None
    options: tuple[Option, ...]


class MeasureForm(_Record):
    title: str
    instructions: str | None
    items: tuple[FormItem, ...]
    source: str | None


def portal_form(template: Template) -> MeasureForm:
    """What the patient is shown: each scored item's wording and its answer options. An
    instrument without licensed wording gets `text: None` (defence in depth; such
    instruments are not sendable in the first place)."""
    scoring = template.scoring
    if scoring is None:
        raise ValueError("not a measure")
    shown = template.item_text_included is True
    properties = (
        template.content_schema.get("properties", {}).get("answers", {}).get("properties", {})
    )
    items = tuple(
        FormItem(
            id=item,
            number=number,
            text=_title(properties.get(item)) if shown else None,
            options=scoring.item_options.get(item, scoring.options),
        )
        for number, item in enumerate(scoring.items, start=1)
    )
    return MeasureForm(
        title=template.title,
        instructions=template.instructions if shown else None,
        items=items,
        source=template.source,
    )


def _title(schema: object) -> str | None:
    if isinstance(schema, Mapping) and isinstance(schema.get("title"), str):
        return str(schema["title"])
    return None


def content_of(answers: Mapping[str, Any], administered_on: date) -> dict[str, Any]:
    """The template content a portal submission stands for (validated against the schema)."""
    return {
        "administered_on": administered_on.isoformat(),
        "respondent": "self",
        "answers": answers,
    }

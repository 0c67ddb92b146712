"""The shape of a clinical template definition (see docs/clinical-templates.md). Pure.

A template is data: a JSON Schema (draft 2020-12) for the note or form content, plus the
metadata the rest of the system needs — category, the services (CPT codes) it documents,
the fields required before signing, a small layout for rendering and, for scored
instruments, the scoring rule with its source and licence. Cross-field rules (layout and
signing paths exist in the schema, bands cover the score range…) live in
`tpm.domain.template_validation.check_template_definition`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, StringConstraints

TEMPLATE_ID_PATTERN = r"^[a-z][a-z0-9_]{1,63}$"
# JSON pointers, with "*" standing for every element of an array.
POINTER_PATTERN = r"^(/[^/]+)+$"

TemplateId = Annotated[str, StringConstraints(pattern=TEMPLATE_ID_PATTERN)]
CptCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{5}$")]
Pointer = Annotated[str, StringConstraints(pattern=POINTER_PATTERN, max_length=300)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=300)]
FlagName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,63}$")]


class Category(StrEnum):
    PROGRESS_NOTE = "progress_note"
    ASSESSMENT = "assessment"
    TREATMENT_PLAN = "treatment_plan"
    MEASURE = "measure"
    CONSENT = "consent"
    FORM = "form"
    ADMINISTRATIVE = "administrative"
    CRISIS = "crisis"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LayoutSection(_Frozen):
    section: Label
    fields: tuple[Pointer, ...] = Field(min_length=1)


class Option(_Frozen):
    value: int
    label: Label


class Band(_Frozen):
    min: int
    max: int
    label: Label


class FlagRule(_Frozen):
    """Raise `flag` when the answer to `item` compares true against `value`."""

    item: str
    op: Literal["gt", "ge", "eq", "le", "lt"]
    value: int
    flag: FlagName


class Scoring(_Frozen):
    """How a measure is scored. Answers live under the content's `/answers` object, one
    integer per item id; `reverse_items` are scored item_max + item_min - answer."""

    rule: Literal["sum"]
    items: tuple[str, ...] = Field(min_length=1)
    item_min: int
    item_max: int
    options: tuple[Option, ...] = Field(min_length=2)
    item_options: dict[str, tuple[Option, ...]] = Field(default_factory=dict)
    reverse_items: tuple[str, ...] = ()
    bands: tuple[Band, ...] = Field(min_length=1)
    flags: tuple[FlagRule, ...] = ()
    notes: str | None = Field(default=None, max_length=2000)

    @property
    def min_total(self) -> int:
        return self.item_min * len(self.items)

    @property
    def max_total(self) -> int:
        return self.item_max * len(self.items)


class TemplateRef(_Frozen):
    id: TemplateId
    version: int = Field(ge=1)


class Template(_Frozen):
    id: TemplateId
    version: int = Field(ge=1)
    title: Label
    category: Category
    description: str = Field(default="", max_length=2000)
    cpt_codes: tuple[CptCode, ...] = ()
    required_at_signing: tuple[Pointer, ...] = ()
    layout: tuple[LayoutSection, ...] = Field(min_length=1)
    # "schema" would shadow a BaseModel attribute, hence the alias.
    content_schema: dict[str, Any] = Field(alias="schema")
    instructions: str | None = Field(default=None, max_length=2000)
    scoring: Scoring | None = None
    source: str | None = Field(default=None, max_length=2000)
    licence: str | None = Field(default=None, max_length=4000)
    licence_url: str | None = Field(default=None, max_length=500)
    item_text_included: bool | None = None
    derived_from: TemplateRef | None = None
    # The compiled content validator, built on first use (see template_validation).
    _compiled: Any = PrivateAttr(default=None)

    @property
    def ref(self) -> TemplateRef:
        return TemplateRef(id=self.id, version=self.version)

    def definition(self) -> dict[str, Any]:
        """The template as its JSON file holds it."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class FieldError(_Frozen):
    """One invalid field: where (a JSON pointer into the submitted document) and what kind
    of problem (the JSON Schema keyword or a named rule). Never the submitted value."""

    path: str
    type: str


class Score(_Frozen):
    total: int
    band: str
    flags: tuple[str, ...] = ()

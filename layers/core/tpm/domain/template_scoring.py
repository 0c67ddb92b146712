"""Scoring of measures (PHQ-9, GAD-7, PCL-5, …) from their template's scoring rule. Pure."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Final

from tpm.domain.template_models import FieldError, Score, Template
from tpm.domain.template_validation import pointer
from tpm.errors import ValidationFailed

_OPS: Final[dict[str, Callable[[int, int], bool]]] = {
    "gt": operator.gt,
    "ge": operator.ge,
    "eq": operator.eq,
    "le": operator.le,
    "lt": operator.lt,
}


def score(template: Template, answers: Mapping[str, object]) -> Score:
    """Total, severity band and risk flags for one completed measure.

    `answers` is the content's `/answers` object (item id → integer). Every scored item
    must be answered within range; otherwise ValidationFailed with field paths (no values).
    """
    scoring = template.scoring
    if scoring is None:
        raise ValidationFailed(
            "This template is not a scored measure.",
            errors=[FieldError(path="/scoring", type="not_scored").model_dump()],
        )
    values: dict[str, int] = {}
    errors: list[FieldError] = []
    for item in scoring.items:
        where = pointer(["answers", item])
        value = answers.get(item)
        if value is None:
            errors.append(FieldError(path=where, type="required"))
        elif isinstance(value, bool) or not isinstance(value, int):
            errors.append(FieldError(path=where, type="type"))
        elif not scoring.item_min <= value <= scoring.item_max:
            errors.append(FieldError(path=where, type="out_of_range"))
        else:
            values[item] = value
    if errors:
        raise ValidationFailed(errors=[e.model_dump() for e in errors])
    reverse = set(scoring.reverse_items)
    total = sum(
        scoring.item_max + scoring.item_min - v if item in reverse else v
        for item, v in values.items()
    )
    # Bands tile the range (checked when the template is loaded), so one always matches.
    band = next(b.label for b in scoring.bands if b.min <= total <= b.max)
    flags = dict.fromkeys(
        rule.flag for rule in scoring.flags if _OPS[rule.op](values[rule.item], rule.value)
    )
    return Score(total=total, band=band, flags=tuple(flags))

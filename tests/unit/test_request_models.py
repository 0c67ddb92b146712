"""Every request body is a strict `RequestModel`, all the way down, and the JSON-string
types (dates, instants, local times, decimals, enums, emails) parse exactly their
documented form. New routes are held to this by the walk over every function below."""

from __future__ import annotations

import types
import typing
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field, Strict, ValidationError
from pydantic.fields import FieldInfo

from tpm.api.models import (
    DecimalStr,
    EmailAddress,
    Instant,
    IsoDate,
    LocalDateTime,
    LocalTime,
    RequestModel,
)
from tpm.local.functions import load_module
from tpm.local.template import functions, load_template

ROOT = Path(__file__).resolve().parents[2]
STRING_CARRIED = (date, datetime, time, Decimal, Enum)


def route_bodies() -> list[tuple[str, type[BaseModel]]]:
    found = []
    for spec in functions(load_template(ROOT / "template.yaml")):
        if not spec.routes:
            continue
        app = getattr(load_module(spec, ROOT), "app", None)
        if app is None:
            continue
        for route in app._static_routes + app._dynamic_routes:
            for param in route.dependant.body_params:
                for model in models_in(param.field_info.annotation):
                    found.append((f"{spec.logical_id} {route.method} {route.path}", model))
    return found


def models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in models_in(arg)]


def _leaf_types(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return [annotation]
    if origin in (typing.Union, types.UnionType, list, dict, tuple, set, frozenset):
        return [t for arg in typing.get_args(annotation) for t in _leaf_types(arg)]
    return [annotation]


def loose_fields(model: type[BaseModel], seen: set[type[BaseModel]]) -> list[str]:
    """Field paths whose type would refuse JSON's string form under strict validation, or
    nested models that are not RequestModels."""
    if model in seen:
        return []
    seen.add(model)
    problems = []
    if not issubclass(model, RequestModel):
        return [f"{model.__name__} is not a RequestModel"]
    for name, info in model.model_fields.items():
        problems += _field_problems(model, name, info, seen)
    return problems


def _field_problems(
    model: type[BaseModel], name: str, info: FieldInfo, seen: set[type[BaseModel]]
) -> list[str]:
    problems = []
    for leaf in _leaf_types(info.annotation):
        if typing.get_origin(leaf) is typing.Annotated:
            base, *meta = typing.get_args(leaf)
            handled = any(hasattr(m, "func") or isinstance(m, Strict) for m in meta)
        else:
            base, handled = leaf, False
        handled = handled or any(hasattr(m, "func") or isinstance(m, Strict) for m in info.metadata)
        if isinstance(base, type) and issubclass(base, BaseModel):
            problems += loose_fields(base, seen)
        elif isinstance(base, type) and issubclass(base, STRING_CARRIED) and not handled:
            problems.append(f"{model.__name__}.{name}: {base.__name__} needs a tpm.api.models type")
    return problems


def test_every_route_body_is_strict_all_the_way_down() -> None:
    bodies = route_bodies()
    assert len(bodies) > 40
    problems: list[str] = []
    seen: set[type[BaseModel]] = set()
    for where, model in bodies:
        if where.startswith("RemindersFunction POST /v1/sms/inbound"):
            continue  # a provider webhook (signed envelope): unknown fields are normal there
        problems += [f"{where}: {p}" for p in loose_fields(model, seen)]
    assert problems == []


class Sample(RequestModel):
    day: IsoDate | None = None
    at: Instant | None = None
    local: LocalDateTime | None = None
    clock: LocalTime | None = None
    fee: DecimalStr | None = None
    email: EmailAddress | None = None
    version: int = Field(default=1, ge=1)
    flag: bool = False


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("day", 0),
        ("day", "0"),
        ("day", "20261201"),
        ("day", "2026-12-01T00:00:00Z"),
        ("day", "2026-02-30"),
        ("at", "2026-12-01"),
        ("at", "2026-12-01T09:00:00"),
        ("at", 0),
        ("at", "0"),
        ("local", "2026-12-01T09:00:00Z"),
        ("local", 1),
        ("clock", "09:00+01:00"),
        ("clock", 3600),
        ("clock", "9am"),
        ("fee", 150.5),
        ("fee", True),
        ("fee", "1e3"),
        ("version", False),
        ("version", True),
        ("version", "2"),
        ("version", 2.0),
        ("flag", 0),
        ("flag", "true"),
        ("email", "a b@example.test"),
    ],
)
def test_loose_values_are_refused(field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        Sample.model_validate({field: value})
    assert [e["loc"] for e in caught.value.errors()] == [(field,)]


def test_documented_string_forms_parse() -> None:
    sample = Sample.model_validate(
        {
            "day": "2026-12-01",
            "at": "2026-12-01T09:00:00-06:00",
            "local": "2026-12-01T09:00",
            "clock": "09:30",
            "fee": "150.00",
            "email": "  Pat@Example.TEST ",
            "version": 3,
            "flag": True,
        }
    )
    assert sample.day == date(2026, 12, 1)
    assert sample.at is not None
    assert sample.at.utcoffset() is not None
    assert sample.local is not None
    assert sample.local.tzinfo is None
    assert sample.clock == time(9, 30)
    assert sample.fee == Decimal("150.00")
    assert sample.email == "pat@example.test"
    assert Sample.model_validate({"at": "2026-12-01T15:00:00Z"}).at is not None


def test_email_is_normalised_before_it_is_checked() -> None:
    # U+FE6B SMALL COMMERCIAL AT becomes "@" under NFKC: checked after normalising, this
    # address has two "@" and is refused (before: it passed and broke later).
    with pytest.raises(ValidationError):
        Sample.model_validate({"email": "a\ufe6bb@example.test"})
    # Full-width letters normalise to ASCII and are then a fine address.
    assert (
        Sample.model_validate({"email": "\uff50\uff41\uff54@example.test"}).email
        == "pat@example.test"
    )


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        Sample.model_validate({"practice_id": "x"})
    assert caught.value.errors()[0]["type"] == "extra_forbidden"


def test_local_time_is_documented_without_a_time_format() -> None:
    schema = Sample.model_json_schema()
    clock = schema["properties"]["clock"]["anyOf"][0]
    assert "format" not in clock
    assert clock["pattern"]

"""The one base for request bodies, and the field types that carry JSON's strings.

Powertools validates a body by handing the *parsed* JSON (a dict) to pydantic in Python
mode (`TypeAdapter.validate_python`), so pydantic's JSON-mode rules never apply. Lax Python
mode coerces: `0` becomes the date 1970-01-01, `false` becomes the integer 0, `"5"` the
integer 5. `RequestModel` is therefore strict (no coercion at all) and forbids unknown
fields; the few types JSON can only carry as strings (dates, instants, local times,
decimals, enums) are declared with the annotated types below, which accept exactly their
documented string form and nothing else:

    class ThingIn(RequestModel):
        start: Instant                      # RFC 3339 with an offset; naive -> 422
        birth: IsoDate | None = None        # YYYY-MM-DD
        at: LocalTime                        # HH:MM[:SS], no offset (a wall-clock time)
        fee: DecimalStr                      # "150.00" (a string, never a JSON number)
        kind: Annotated[Kind, Strict(False)] # an enum by its value
        email: EmailAddress                  # NFKC-normalised, trimmed, lowered, then checked
        version: int = Field(ge=1)          # `true`/`1.0`/"1" -> 422

The same types work for query parameters (`Annotated[Instant, Query(alias="from")]`).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from tpm.domain.users import normalise_email
from tpm.errors import ValidationFailed

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_INSTANT = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:?\d{2})$"
)
_LOCAL_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?$")
_LOCAL_TIME = re.compile(r"^\d{2}:\d{2}(:\d{2})?$")
_DECIMAL = re.compile(r"^-?\d{1,15}(\.\d{1,6})?$")
LOCAL_TIME_PATTERN = r"^\d{2}:\d{2}(:\d{2})?$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class RequestModel(BaseModel):
    """Every request body (and nested object in one) derives from this."""

    model_config = ConfigDict(extra="forbid", strict=True)


def _fail(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, message)


def _iso_date(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise _fail("date_format", "Input should be a date as YYYY-MM-DD")


def _instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise _fail("timezone_aware", "Input should have a time zone offset")
        return value
    if isinstance(value, str) and _INSTANT.match(value):
        try:
            return datetime.fromisoformat(value.replace("z", "Z"))
        except ValueError:
            pass
    raise _fail(
        "datetime_with_offset",
        "Input should be an RFC 3339 date-time with an offset, e.g. 2026-12-01T09:00:00Z",
    )


def _local_datetime(value: Any) -> datetime:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value
    if isinstance(value, str) and _LOCAL_DATETIME.match(value):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise _fail("local_datetime", "Input should be a wall-clock date-time with no offset")


def _local_time(value: Any) -> time:
    if isinstance(value, time) and value.tzinfo is None:
        return value
    if isinstance(value, str) and _LOCAL_TIME.match(value):
        try:
            return time.fromisoformat(value)
        except ValueError:
            pass
    raise _fail("local_time", "Input should be a wall-clock time as HH:MM or HH:MM:SS")


def _decimal(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, str) and _DECIMAL.match(value):
        try:
            return Decimal(value)
        except InvalidOperation:
            pass
    raise _fail("decimal_string", "Input should be a decimal number as a string, e.g. '150.00'")


def _email(value: Any) -> Any:
    # Normalise first, so the pattern checks the address we will actually store.
    return normalise_email(value) if isinstance(value, str) else value


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
"""A calendar date, `YYYY-MM-DD` (a local date: of birth, of service, of a schedule day)."""

Instant = Annotated[AwareDatetime, BeforeValidator(_instant)]
"""An instant: RFC 3339 date-time that must carry `Z` or an offset."""

LocalDateTime = Annotated[
    datetime,
    BeforeValidator(_local_datetime),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _LOCAL_DATETIME.pattern,
            "description": "Wall-clock date-time with no offset (in the location's zone)",
        }
    ),
]
"""A wall-clock date-time with no offset, read in a named zone (a series' first visit)."""

LocalTime = Annotated[
    time,
    BeforeValidator(_local_time),
    WithJsonSchema({"type": "string", "pattern": LOCAL_TIME_PATTERN}),
]
"""A wall-clock time of day, `HH:MM` or `HH:MM:SS`, never with an offset."""

DecimalStr = Annotated[
    Decimal,
    BeforeValidator(_decimal),
    WithJsonSchema({"type": "string", "pattern": _DECIMAL.pattern}),
]
"""A decimal number carried as a JSON string (money amounts)."""

EmailAddress = Annotated[
    str,
    BeforeValidator(_email),
    Field(min_length=3, max_length=254, pattern=EMAIL_PATTERN),
]
"""An email address, NFKC-normalised, trimmed and lower-cased *before* it is checked."""


DomainT = TypeVar("DomainT", bound=BaseModel)


def to_domain(kind: type[DomainT], value: BaseModel, path: str) -> DomainT:
    """A validated request part -> the domain model, whose own rules (end after start, ...)
    run here; a broken rule is a 422 naming `path`, never a 500."""
    try:
        return kind.model_validate(value.model_dump())
    except ValidationError as exc:
        raise ValidationFailed(fields=validation_fields(exc, path)) from None


def validation_fields(exc: ValidationError, prefix: str) -> list[dict[str, str]]:
    """A pydantic error -> field paths and types under `prefix` (never the input)."""
    return [
        {"path": ".".join([prefix, *(str(p) for p in e["loc"])]), "type": e["type"]}
        for e in exc.errors()
    ]

"""Good Faith Estimates for self-pay patients (45 CFR 149.610). Pure: no I/O.

Deadlines, in business days (US federal holidays are not business days, observed on the
Friday before a Saturday and the Monday after a Sunday):
  scheduled >= 10 business days ahead  -> due within 3 business days of scheduling
  scheduled >=  3 business days ahead  -> due within 1 business day of scheduling
  requested (not yet scheduled)        -> due within 3 business days of the request
  scheduled fewer than 3 days ahead    -> no deadline (may still be given)
A recurring course of psychotherapy may be covered by one estimate for up to 12 months,
with a range of sessions. When what has been billed for the provider reaches the
estimate's upper total + $400, the patient may use the patient-provider dispute
resolution process: we warn before that happens.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, model_validator

DISPUTE_MARGIN: Final = Decimal(400)
MAX_MONTHS: Final = 12
DISCLAIMERS: Final = (
    "This Good Faith Estimate shows the costs of items and services that are reasonably"
    " expected for your health care needs. The estimate is based on information known at"
    " the time it was created.",
    "The Good Faith Estimate does not include any unknown or unexpected costs that may arise"
    " during treatment. You could be charged more if complications or special circumstances"
    " occur; other services may be recommended.",
    "If you are billed for more than this Good Faith Estimate, you have the right to dispute"
    " the bill: you may start the patient-provider dispute resolution process if the billed"
    " charges are at least $400 more than this estimate, within 120 calendar days of the"
    " date on the bill.",
    "The Good Faith Estimate is not a contract and does not require you to obtain the items"
    " or services from any of the providers or facilities identified in it.",
)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    first = date(year, month, 1)
    offset = (weekday - first.weekday()) % 7
    return first + timedelta(days=offset + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> date:
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    last = nxt - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _observed(day: date) -> date:
    if day.weekday() == 5:
        return day - timedelta(days=1)
    if day.weekday() == 6:
        return day + timedelta(days=1)
    return day


@cache
def federal_holidays(year: int) -> frozenset[date]:
    mon, thu = 0, 3
    days = {
        _observed(date(year, 1, 1)),
        _nth_weekday(year, 1, mon, 3),  # Martin Luther King Jr. Day
        _nth_weekday(year, 2, mon, 3),  # Washington's Birthday
        _last_weekday(year, 5, mon),  # Memorial Day
        _observed(date(year, 6, 19)),  # Juneteenth
        _observed(date(year, 7, 4)),
        _nth_weekday(year, 9, mon, 1),  # Labor Day
        _nth_weekday(year, 10, mon, 2),  # Columbus Day
        _observed(date(year, 11, 11)),  # Veterans Day
        _nth_weekday(year, 11, thu, 4),  # Thanksgiving
        _observed(date(year, 12, 25)),
    }
    # New Year's Day of the next year observed on 31 December of this one.
    if date(year + 1, 1, 1).weekday() == 5:
        days.add(date(year, 12, 31))
    return frozenset(days)


def is_business_day(day: date) -> bool:
    return day.weekday() < 5 and day not in federal_holidays(day.year)


def add_business_days(start: date, n: int) -> date:
    day = start
    while n > 0:
        day += timedelta(days=1)
        if is_business_day(day):
            n -= 1
    return day


def business_days_between(start: date, end: date) -> int:
    """Business days after `start` up to and including `end`."""
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        if is_business_day(day):
            count += 1
    return count


def due_date(asked_on: date, service_date: date | None) -> date | None:
    """When the estimate must be given: `service_date` None means the patient asked for
    one without scheduling."""
    if service_date is None:
        return add_business_days(asked_on, 3)
    ahead = business_days_between(asked_on, service_date)
    if ahead >= 10:
        return add_business_days(asked_on, 3)
    if ahead >= 3:
        return add_business_days(asked_on, 1)
    return None


class EstimateItem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    procedure: str = Field(pattern=r"^[0-9A-Z]{5}$")
    description: str = Field(min_length=1, max_length=80)  # our own short label
    fee: Decimal = Field(ge=0, max_digits=10, decimal_places=2)
    quantity_min: int = Field(ge=0, le=500)
    quantity_max: int = Field(ge=1, le=500)

    @model_validator(mode="after")
    def _range(self) -> EstimateItem:
        if self.quantity_min > self.quantity_max:
            raise ValueError("quantity_min is above quantity_max")
        return self


class GoodFaithEstimate(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    patient_id: str
    provider_identity_id: str  # billing identity: name, NPI, TIN, location
    items: tuple[EstimateItem, ...] = Field(min_length=1, max_length=20)
    diagnoses: tuple[str, ...] = Field(default=(), max_length=12)
    period_start: date
    period_end: date
    asked_on: date
    due_by: date | None
    created_at: datetime
    created_by: str

    @model_validator(mode="after")
    def _period(self) -> GoodFaithEstimate:
        if self.period_end < self.period_start:
            raise ValueError("the period ends before it starts")
        limit = self.period_start.replace(year=self.period_start.year + 1)
        if self.period_end > limit:
            raise ValueError("one estimate covers at most 12 months")
        return self

    @property
    def total_min(self) -> Decimal:
        return sum((i.fee * i.quantity_min for i in self.items), Decimal(0))

    @property
    def total_max(self) -> Decimal:
        return sum((i.fee * i.quantity_max for i in self.items), Decimal(0))

    @property
    def dispute_threshold(self) -> Decimal:
        return self.total_max + DISPUTE_MARGIN


def dispute_warning(estimate: GoodFaithEstimate, billed: Decimal) -> bool:
    """True when billed charges in the estimate's period reach the upper total + $400."""
    return billed >= estimate.dispute_threshold

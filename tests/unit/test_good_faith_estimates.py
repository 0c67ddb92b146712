"""Good Faith Estimate rules: business days around federal holidays, the deadlines, the
12-month limit and the $400 dispute warning."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from tpm.domain.billing.gfe import (
    EstimateItem,
    GoodFaithEstimate,
    add_business_days,
    dispute_warning,
    due_date,
    federal_holidays,
    is_business_day,
)


def test_federal_holidays_with_observed_days() -> None:
    h = federal_holidays(2026)
    assert date(2026, 11, 26) in h  # Thanksgiving
    assert date(2026, 7, 3) in h  # 4 July is a Saturday: observed Friday
    assert date(2026, 12, 25) in h
    assert date(2027, 12, 24) in federal_holidays(2027)  # Christmas on a Saturday
    assert date(2027, 12, 31) in federal_holidays(2027)  # New Year 2028 on a Saturday
    assert not is_business_day(date(2026, 11, 26))
    assert add_business_days(date(2026, 11, 25), 1) == date(2026, 11, 27)


@pytest.mark.parametrize(
    ("asked", "service", "due"),
    [
        (date(2026, 12, 1), date(2026, 12, 21), date(2026, 12, 4)),  # >= 10 days: 3
        (date(2026, 12, 1), date(2026, 12, 7), date(2026, 12, 2)),  # 3-9 days: 1
        (date(2026, 12, 1), date(2026, 12, 3), None),  # under 3 days: none
        (date(2026, 12, 23), None, date(2026, 12, 29)),  # on request: 3, Christmas skipped
    ],
)
def test_deadlines(asked: date, service: date | None, due: date | None) -> None:
    assert due_date(asked, service) == due


def estimate(**changes: object) -> GoodFaithEstimate:
    data: dict[str, object] = {
        "id": "gfe_1",
        "patient_id": "pat_1",
        "provider_identity_id": "bid_1",
        "items": (
            EstimateItem(
                procedure="90791",
                description="Diagnostic evaluation",
                fee=Decimal(250),
                quantity_min=1,
                quantity_max=1,
            ),
            EstimateItem(
                procedure="90837",
                description="Psychotherapy 53+ min",
                fee=Decimal(200),
                quantity_min=20,
                quantity_max=52,
            ),
        ),
        "period_start": date(2026, 12, 1),
        "period_end": date(2027, 11, 30),
        "asked_on": date(2026, 11, 20),
        "due_by": date(2026, 11, 23),
        "created_at": datetime(2026, 11, 20, tzinfo=UTC),
        "created_by": "usr_1",
    }
    data |= changes
    return GoodFaithEstimate.model_validate(data)


def test_recurring_range_and_dispute_warning() -> None:
    gfe = estimate()
    assert (gfe.total_min, gfe.total_max) == (Decimal(4250), Decimal(10650))
    assert gfe.dispute_threshold == Decimal(11050)
    assert not dispute_warning(gfe, Decimal(11049))
    assert dispute_warning(gfe, Decimal(11050))


def test_one_estimate_covers_at_most_twelve_months() -> None:
    with pytest.raises(ValueError, match="12 months"):
        estimate(period_end=date(2027, 12, 2))

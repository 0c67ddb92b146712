"""Demo data for patients' rights (the compliance officer's screens): Riley's disclosure
register and three open requests entered by front desk on patients' behalf. Synthetic."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from tpm.domain.rights import DisclosureBasis, DisclosureSource, RequestKind
from tpm.security.principal import Role
from tpm.services.rights import RightsService

if TYPE_CHECKING:
    from tpm.local.demo_practice import DemoSeed


def rights(seed: DemoSeed) -> None:
    riley = seed.ids["riley"]
    officer = RightsService(seed.as_(Role.COMPLIANCE))
    for days, recipient, what, why, basis in (
        (
            400,
            "County Department of Public Health (synthetic)",
            "Name, date of birth and a reportable condition",
            "Mandatory public health report",
            DisclosureBasis.PUBLIC_HEALTH,
        ),
        (
            45,
            "Riverside County Court (synthetic)",
            "Dates of treatment",
            "Subpoena with satisfactory assurances",
            DisclosureBasis.JUDICIAL,
        ),
        (
            10,
            "Example Health Plan (synthetic)",
            "Claim for the visit",
            "Payment",
            DisclosureBasis.TREATMENT_PAYMENT_OPERATIONS,
        ),
    ):
        officer.record_disclosure(
            riley,
            disclosed_on=seed.today - timedelta(days=days),
            recipient=recipient,
            recipient_address="",
            description=what,
            purpose=why,
            basis=basis,
            source=DisclosureSource.MANUAL,
            reference=None,
        )
    desk = RightsService(seed.as_(Role.FRONT_DESK))
    desk.create_request(
        riley, RequestKind.ACCOUNTING, details="", record_reference=None, period_from=None
    )
    desk.create_request(
        seed.ids["morgan"],
        RequestKind.AMENDMENT,
        details="My address on the intake form is out of date (synthetic).",
        record_reference=None,
        period_from=None,
    )

"""Billing in the portal: the patient sees what they owe, downloads their statement as a
PDF (never emailed) and pays by card on the processor's page (tpm dev's local stand-in),
under the portal's strict Content-Security-Policy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import DevServer, PortalPatient, start_dev_server
from playwright.sync_api import Page, expect
from portal_api import (
    account,
    enrol_totp,
    ok,
    screenshot,
    serious_violations,
    sign_in,
    sign_in_portal,
    staff,
)

from tpm.security.principal import Role

pytestmark = pytest.mark.e2e


# A server of its own: this test signs the biller in (enrolling its MFA) and adds sign-ins
# that would count against the shared server's per-address sign-in limit.
@pytest.fixture(scope="module")
def dev_server(
    chromium_path: str, tmp_path_factory: pytest.TempPathFactory, project_root: Path
) -> Iterator[DevServer]:
    with start_dev_server(tmp_path_factory.mktemp("billing"), project_root) as server:
        yield server


@pytest.fixture(scope="module")
def portal_url(dev_server: DevServer) -> str:
    return dev_server.base


def test_patient_sees_balance_and_downloads_statement(
    page: Page, portal_url: str, new_patient: PortalPatient, tmp_path: Path
) -> None:
    # GIVEN the desk records a refund owed back (the patient balance is 25.00)
    desk = staff(portal_url, Role.FRONT_DESK)
    # (on this module's own server: enrolling the biller's MFA disturbs nobody)
    demo = account(Role.BILLER)
    biller = sign_in(portal_url, demo.email, demo.password)
    enrol_totp(biller)
    path = f"/v1/patients/{new_patient.patient_id}/adjustments"
    ok(
        biller.post(
            path, json={"kind": "refund", "amount": "25.00", "reason": "overpayment returned"}
        )
    )
    assert (
        ok(desk.get(f"/v1/patients/{new_patient.patient_id}/ledger"))["patient_balance"] == "25.00"
    )
    # AND the desk gives them a Good Faith Estimate (12 to 26 sessions at $150)
    [clinician] = [i for i in ok(desk.get("/v1/billing/identities")) if i["kind"] == "person"]
    estimate = {
        "provider_identity_id": clinician["id"],
        "items": [
            {
                "procedure": "90834",
                "description": "Psychotherapy 45 minutes",
                "fee": "150.00",
                "quantity_min": 12,
                "quantity_max": 26,
            }
        ],
        "period_start": "2027-01-04",
        "period_end": "2027-12-31",
    }
    ok(desk.post(f"/v1/patients/{new_patient.patient_id}/good-faith-estimates", json=estimate))
    # WHEN the patient signs in
    sign_in_portal(page, new_patient.email, new_patient.password)
    billing = page.get_by_role("region", name="Billing")
    # THEN they see the balance and can save their statement
    expect(billing).to_contain_text("You owe: $25.00")
    screenshot(page, "billing")
    assert serious_violations(page) == []
    with page.expect_download() as info:
        billing.get_by_role("button", name="Download my statement (PDF)").click()
    saved = tmp_path / "statement.pdf"
    info.value.save_as(saved)
    assert saved.read_bytes().startswith(b"%PDF")
    expect(page.get_by_role("status")).to_have_text("Downloading statement.pdf.")
    with page.expect_download() as info:
        billing.get_by_role("button", name="Download a superbill for this year (PDF)").click()
    assert info.value.suggested_filename == "superbill.pdf"
    # AND their Good Faith Estimate, as a PDF
    estimates = billing.get_by_role("list", name="Good Faith Estimates")
    expect(estimates).to_contain_text("Jan 4, 2027 to Dec 31, 2027: $1800.00 to $3900.00")
    with page.expect_download() as info:
        estimates.get_by_role("button", name="Download this estimate (PDF)").click()
    assert info.value.suggested_filename.endswith(".pdf")

    # WHEN they pay it by card: the processor's page opens in a new tab (this tab keeps
    # the session); it shows the amount and nothing about the patient
    pay = billing.get_by_role("form", name="Pay by card")
    expect(pay.get_by_label("Amount in dollars")).to_have_value("25.00")
    pay.get_by_role("button", name="Continue to the card page").click()
    link = pay.get_by_role("link", name="Pay $25.00 on the secure card page (new tab)")
    expect(link).to_be_focused()
    with page.context.expect_page() as opened:
        link.click()
    card_page = opened.value
    expect(
        card_page.get_by_role("heading", name="Synthetic card processor (local)")
    ).to_be_visible()
    assert new_patient.email not in card_page.content()
    card_page.get_by_role("button", name="Pay $25.00 with the test card").click()
    expect(card_page.get_by_role("heading", name="Payment received")).to_be_visible()
    card_page.close()
    # THEN back in the portal the balance is paid, and the ledger shows the card payment
    pay.get_by_role("button", name="I have paid: update my balance").click()
    expect(page.get_by_role("status")).to_have_text("Balance updated: you owe $0.00.")
    expect(billing).to_contain_text("You owe: $0.00")
    entries = ok(desk.get(f"/v1/patients/{new_patient.patient_id}/ledger"))["entries"]
    assert [(e["kind"], e["amount"], e["reason"]) for e in entries][-1] == (
        "patient_payment",
        "-25.00",
        "card",
    )
    assert serious_violations(page) == []

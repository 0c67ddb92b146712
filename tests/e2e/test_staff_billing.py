"""Billing in the staff app, on the demo practice's billing (tpm.local.demo_billing): the
biller works the queues (ready to bill, a paid claim with its history), closes a posting
exception saying how, builds a claim from a charge and sends it in a batch, and sees that
their own write-off waits for someone else; the owner approves it and the patient's
account shows it with both names. axe on each screen; CSP violations fail."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import DevServer, start_dev_server
from playwright.sync_api import Page, expect
from staff_ui import NAV, check_axe, shoot, sign_in_staff

from tpm.security.principal import Role

pytestmark = pytest.mark.e2e


# A server of its own: the test works through the demo practice's billing data (closing
# its exception, deciding its write-off), which no other test may find half-used.
@pytest.fixture(scope="module")
def dev_server(
    chromium_path: str, tmp_path_factory: pytest.TempPathFactory, project_root: Path
) -> Iterator[DevServer]:
    with start_dev_server(tmp_path_factory.mktemp("staff-billing"), project_root) as server:
        yield server


@pytest.fixture(scope="module")
def portal_url(dev_server: DevServer) -> str:
    return dev_server.base


def test_a_biller_works_the_queues_and_a_second_person_approves(
    page: Page, portal_url: str
) -> None:
    # GIVEN the biller signed in: billing's screens are in the menu
    sign_in_staff(page, Role.BILLER)
    nav = page.get_by_role("navigation", name=NAV)
    for link in ("Billing", "Posting exceptions", "Approvals", "Reconciliation"):
        expect(nav.get_by_role("link", name=link, exact=True)).to_be_visible()
    # WHEN they open the work queues: signed notes' charges are ready to bill
    nav.get_by_role("link", name="Billing", exact=True).click()
    expect(page.get_by_role("heading", name="Billing", exact=True)).to_be_focused()
    ready = page.get_by_role("table", name="Charges ready to bill, oldest first")
    expect(ready.locator("tbody tr").first).to_be_visible()
    check_axe(page)
    shoot(page, "staff-billing-queues")

    # AND the paid queue holds Riley's claim, paid by the demo 835 (copay to the patient)
    page.get_by_label("Work queue").select_option("paid")
    paid = page.get_by_role("table", name="Claims: Paid, oldest first")
    row = paid.locator("tbody tr").filter(has_text="Testcase")
    expect(row).to_contain_text("Paid")
    row.get_by_role("link", name=re.compile(r"^C")).click()
    expect(page.get_by_role("heading", name=re.compile(r"^Claim C"))).to_be_focused()
    assert re.search(r"#/billing/claims/clm_[0-9a-z]+$", page.url)
    history = page.get_by_role("table", name="What happened to this claim, oldest first")
    for event in ("created", "validated", "batched", "submitted", "277ca_accepted", "835_paid"):
        expect(history).to_contain_text(event)
    expect(page.get_by_text("Patient responsibility")).to_be_visible()
    check_axe(page)
    shoot(page, "staff-billing-claim")

    # WHEN they close the posting exception (an 835 line for a claim not ours)
    nav.get_by_role("link", name="Posting exceptions").click()
    expect(page.get_by_role("heading", name="Posting exceptions")).to_be_focused()
    queue = page.get_by_role("table", name="Open posting exceptions, oldest first")
    stray = queue.locator("tbody tr").filter(has_text="CNOTOURS01")
    expect(stray).to_contain_text("No such claim")
    check_axe(page)
    shoot(page, "staff-billing-exceptions")
    stray.get_by_role("button", name=re.compile("^Resolve")).click()
    stray.get_by_label("How was it dealt with?").select_option("not_ours")
    stray.get_by_label("Note (optional)").fill("Trace checked; payer told")
    stray.get_by_role("button", name="Close exception").click()
    # THEN it leaves the open queue, announced; the resolved list says how
    expect(page.get_by_role("status")).to_have_text("Exception closed.")
    expect(page.get_by_role("heading", name="0 open")).to_be_focused()
    page.get_by_label("Show").select_option("resolved")
    resolved = page.get_by_role("table", name="Resolved posting exceptions")
    expect(resolved).to_contain_text(
        "Not ours (another practice's claim) — Trace checked; payer told"
    )
    check_axe(page)

    # WHEN they try to build a claim for Morgan, who has no insurance on file
    nav.get_by_role("link", name="Billing", exact=True).click()
    ready = page.get_by_role("table", name="Charges ready to bill, oldest first")
    morgan = ready.locator("tbody tr").filter(has_text="Fictional (synthetic), Morgan").first
    morgan.get_by_role("checkbox").check()
    page.get_by_role("button", name="Build a claim from the chosen charges").click()
    # THEN it is refused with what to do, next to the button
    refused = page.get_by_role("alert").filter(has_text="This claim cannot be built")
    expect(refused).to_be_focused()
    expect(refused).to_contain_text("The patient has no insurance (payer id) on file")
    check_axe(page)
    # AND billing that charge to the patient instead is announced
    morgan.get_by_role("button", name=re.compile("^Bill to patient")).click()
    expect(page.get_by_role("status")).to_have_text(
        "Billed to Fictional (synthetic), Morgan as self-pay."
    )

    # WHEN they batch Avery's validated claim and send it to the clearinghouse
    page.get_by_label("Work queue").select_option("validated")
    batchable = page.get_by_role("table", name="Claims: Ready to batch, oldest first")
    avery = batchable.locator("tbody tr").filter(has_text="Sample (synthetic), Avery")
    pcn = avery.get_by_role("link").first.inner_text()
    expect(avery.get_by_role("checkbox")).to_be_checked()
    check_axe(page)
    shoot(page, "staff-billing-batch")
    page.get_by_role("button", name="Batch and send to the clearinghouse").click()
    expect(page.get_by_role("status")).to_contain_text("validated and sent to the clearinghouse")
    # THEN it is in the submitted queue
    page.get_by_label("Work queue").select_option("submitted")
    sent = page.get_by_role("table", name="Claims: Submitted, oldest first")
    expect(sent).to_contain_text(pcn)

    # WHEN the biller opens the approvals: their own write-off waits for someone else
    nav.get_by_role("link", name="Approvals").click()
    expect(page.get_by_role("heading", name="Approvals")).to_be_focused()
    waiting = page.get_by_role(
        "table", name="Write-offs and refunds waiting for approval, oldest first"
    )
    mine = waiting.locator("tbody tr").filter(has_text="hardship (synthetic)")
    expect(mine).to_contain_text("Your request: someone else approves it")
    expect(mine.get_by_role("button", name=re.compile("^Approve"))).to_have_count(0)
    check_axe(page)
    page.get_by_role("button", name="Sign out").click()

    # THEN the owner approves it
    sign_in_staff(page, Role.OWNER, "/staff/#/billing/approvals")
    expect(page.get_by_role("heading", name="Approvals")).to_be_focused()
    waiting = page.get_by_role(
        "table", name="Write-offs and refunds waiting for approval, oldest first"
    )
    row = waiting.locator("tbody tr").filter(has_text="hardship (synthetic)")
    shoot(page, "staff-billing-approvals")
    row.get_by_role("button", name=re.compile("^Approve")).click()
    expect(page.get_by_role("status")).to_have_text(
        re.compile(r"^Approved: the write-off is on Testcase \(synthetic\), Riley's ledger\.$")
    )
    # AND Riley's account shows the write-off with both names and nothing left to pay
    expect(page.get_by_role("heading", name="0 waiting")).to_be_focused()
    page.goto(page.url.split("#")[0] + "#/billing")
    page.get_by_label("Work queue").select_option("paid")
    page.get_by_role("table", name="Claims: Paid, oldest first").get_by_role(
        "link", name="Testcase (synthetic), Riley"
    ).click()
    expect(page.get_by_role("heading", name="Testcase (synthetic), Riley: account")).to_be_focused()
    assert re.search(r"#/billing/patients/pat_[0-9a-z]+$", page.url)
    balances = page.locator("#account-summary dl.facts")
    expect(balances).to_contain_text("Patient owes")
    expect(balances.locator("dd").first).to_have_text("$0.00")
    entries = page.get_by_role("table", name="Ledger entries, oldest first")
    expect(entries.locator("tbody tr").filter(has_text="Write-off")).to_contain_text("approved by")
    check_axe(page)
    shoot(page, "staff-billing-account")
    # AND a sliding scale for Riley's self-pay sessions: out of range, then set
    scale = page.locator("#sliding-form")
    scale.get_by_label("Discount (%)").fill("140")
    scale.get_by_label("Reason").fill("household income table (synthetic)")
    scale.get_by_role("button", name="Set the sliding scale").click()
    expect(scale.get_by_role("alert")).to_contain_text("At most 100.")
    scale.get_by_label("Discount (%)").fill("40")
    scale.get_by_role("button", name="Set the sliding scale").click()
    expect(page.get_by_role("status")).to_have_text("Sliding scale set: 40% off self-pay sessions.")


def test_the_front_desk_works_a_patients_account(page: Page) -> None:
    # GIVEN the front desk opens Avery's record and goes to the account from it
    sign_in_staff(page, Role.FRONT_DESK, "/staff/#/patients")
    page.get_by_label("Name").fill("Avery")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=re.compile("^Sample \\(synthetic\\), Avery")).click()
    page.get_by_role("link", name=re.compile("^Account:")).click()
    expect(page.get_by_role("heading", name="Sample (synthetic), Avery: account")).to_be_focused()
    # (the desk has no claims: no link to billing's queues, claims stay out of reach)
    expect(page.get_by_role("link", name="Billing", exact=True)).to_have_count(0)
    check_axe(page)
    # WHEN they check eligibility: the simulated clearinghouse answers a 271
    page.get_by_role("button", name="Check eligibility now (270/271)").click()
    expect(page.get_by_role("status")).to_have_text("Eligibility checked.")
    expect(page.locator("#eligibility-result")).to_contain_text("Coverage is active.")
    expect(page.get_by_role("table", name="Mental-health benefits")).to_be_visible()
    # AND write a Good Faith Estimate (12 to 26 sessions at $200)
    form = page.locator("#estimate-form")
    form.get_by_label("Fee per session ($)").fill("200.00")
    form.get_by_role("button", name="Write the estimate").click()
    expect(page.get_by_role("status")).to_have_text(re.compile("^Estimate written"))
    estimates = page.get_by_role("table", name="Good Faith Estimates, newest first")
    expect(estimates).to_contain_text("$2,400.00 \u2013 $5,200.00")
    # AND a payment with a bad amount is refused next to the field, changing nothing
    pay = page.locator("#payment-form")
    pay.get_by_label("Amount ($)").fill("twenty")
    pay.get_by_role("button", name="Record payment").click()
    expect(pay.get_by_role("alert")).to_contain_text("There is a problem")
    # THEN a good one is recorded and shows in the ledger
    pay.get_by_label("Amount ($)").fill("20.00")
    pay.get_by_role("button", name="Record payment").click()
    expect(page.get_by_role("status")).to_have_text("Payment of $20.00 recorded.")
    entries = page.get_by_role("table", name="Ledger entries, oldest first")
    expect(entries.locator("tbody tr").filter(has_text="Patient payment")).to_contain_text(
        "\u2212$20.00"
    )
    # AND a card payment at the desk: the processor's page opens in a new tab
    card = page.locator("#card-form")
    card.get_by_label("Amount ($)").fill("15.00")
    card.get_by_role("button", name="Start a card payment").click()
    link = card.get_by_role("link", name="Open the card page for $15.00 (new tab)")
    expect(link).to_be_focused()
    with page.context.expect_page() as opened:
        link.click()
    processor = opened.value
    processor.get_by_role("button", name="Pay $15.00 with the test card").click()
    expect(processor.get_by_role("heading", name="Payment received")).to_be_visible()
    processor.close()
    card.get_by_role("button", name="Paid: update the balance").click()
    expect(page.get_by_role("status")).to_have_text("Balance updated.")
    expect(entries.locator("tbody tr").filter(has_text="card")).to_contain_text("\u2212$15.00")
    check_axe(page)
    shoot(page, "staff-billing-account-desk")


def test_a_biller_reconciles_the_bank_statement(page: Page) -> None:
    # GIVEN the demo 835 paid $280.00 by EFT yesterday (trace EFT<yyyymmdd>01): Riley's
    # claim and the line for a claim not ours
    sign_in_staff(page, Role.BILLER, "/staff/#/billing/reconciliation")
    expect(page.get_by_role("heading", name="Reconciliation")).to_be_focused()
    today = datetime.now(ZoneInfo("America/Chicago")).date()  # the demo practice's day
    paid = (today - timedelta(days=1)).strftime("%Y%m%d")
    statement = (
        "Date,Amount,Description\n"
        f"{paid[:4]}-{paid[4:6]}-{paid[6:]},280.00,HCCLAIMPMT TRN*1*EFT{paid}01\n"
        f"{paid[:4]}-{paid[4:6]}-{paid[6:]},15.00,UNKNOWN DEPOSIT\n"
    )
    # WHEN they paste the bank's CSV and match it
    page.get_by_label("Statement text").fill(statement)
    page.get_by_role("button", name="Match deposits").click()
    # THEN the EFT matches its 835 and the other deposit has no source
    expect(
        page.get_by_role("heading", name=re.compile("^1 matched, 0 differing, 1 deposits"))
    ).to_be_focused()
    expect(page.get_by_role("table", name="Matched deposits")).to_contain_text(
        "835 remittance (EFT)"
    )
    expect(
        page.get_by_role("table", name="Deposits without a source (unapplied cash)")
    ).to_contain_text("$15.00")
    check_axe(page)
    # AND this month's AR rolls forward and adds up
    page.get_by_label("Month", exact=True).fill(today.strftime("%Y-%m"))
    page.get_by_role("button", name="Roll forward").click()
    expect(page.get_by_text("Adds up: the roll-forward equals the ledger.")).to_be_visible()
    check_axe(page)
    shoot(page, "staff-billing-reconciliation")


def test_billing_set_up_validates_next_to_each_field(page: Page) -> None:
    # GIVEN the owner opens the billing set-up (the demo's identities, payer and fees)
    sign_in_staff(page, Role.OWNER, "/staff/#/billing/setup")
    expect(page.get_by_role("heading", name="Billing set-up")).to_be_focused()
    expect(page.get_by_role("table", name="Billing identities")).to_contain_text("1245319599")
    expect(page.get_by_role("table", name="Payers")).to_contain_text("SYNPY1")
    check_axe(page)
    shoot(page, "staff-billing-setup")
    # WHEN they add a clinician's identity with a wrong NPI check digit
    form = page.locator("#identity-form")
    form.get_by_label("Kind").select_option("person")
    form.get_by_label("Name (organisation, or last name)").fill("Clinician")
    form.get_by_label("First name (person)").fill("Second")
    form.get_by_label("NPI").fill("1234567890")
    form.get_by_label("Taxonomy (NUCC)").fill("101YP2500X")
    form.get_by_role("button", name="Add identity").click()
    # THEN the problem is named next to the NPI, and nothing is added
    summary = form.get_by_role("alert")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("NPI")
    expect(form.get_by_label("NPI")).to_have_attribute("aria-invalid", "true")
    check_axe(page)
    # WHEN they correct it THEN it is added and announced
    form.get_by_label("NPI").fill("1234567893")
    form.get_by_role("button", name="Add identity").click()
    expect(page.get_by_role("status")).to_have_text("Billing identity added.")
    expect(page.get_by_role("table", name="Billing identities")).to_contain_text("1234567893")

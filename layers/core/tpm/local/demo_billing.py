"""The demo practice's billing, written through the services like the rest of the demo
(`tpm.local.demo_practice.AREAS`): the billing set-up (group and rendering identities,
settings, a commercial payer, a default fee schedule), insurance for Riley and Avery,
Riley's signed note billed as a claim that went to the (simulated) clearinghouse and was
paid by an 835 with a copay, an 835 line for a claim the practice never sent (waiting in
the exception queue), and a write-off of Riley's copay above the practice's $25 approval
threshold asked for by the biller (waiting for a second person). Avery's session yesterday
has a validated claim waiting to be batched; Morgan's notes (no insurance) stay "ready to
bill".
Everything is synthetic: NPIs and ids from the billing brief's fixtures.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from tpm.domain.billing.remit835 import Adjustment, ClaimPayment, ServiceLine
from tpm.domain.billing.responses import render_835
from tpm.security.principal import Role
from tpm.services.billing_setup import BillingSetupService
from tpm.services.charge_capture import pending_charges
from tpm.services.claims import ClaimService
from tpm.services.ledger import LedgerService
from tpm.services.notes import NoteService
from tpm.services.patients import PatientService
from tpm.services.remittances import InboundFiles
from tpm.services.submission import Submission

if TYPE_CHECKING:
    from tpm.local.demo_practice import DemoSeed

GROUP_NPI = "1245319599"
CLINICIAN_NPI = "1679576722"
SUBMITTER = "TPMDEMO"
PAYER_ID = "SYNPY1"
FEES = {
    "90791": "250.00",
    "90832": "100.00",
    "90834": "150.00",
    "90837": "200.00",
    "90785": "45.00",
    "90846": "160.00",
    "90847": "170.00",
    "90853": "70.00",
}
ADDRESS = {"line1": "1 Elm St", "city": "Springfield", "region": "IL", "postal_code": "62702"}


def billing(seed: DemoSeed) -> None:
    biller = seed.as_(Role.BILLER)
    setup = BillingSetupService(biller)
    group = setup.create_identity(
        {
            "kind": "organisation",
            "name": "Synthetic Counseling Group",
            "npi": GROUP_NPI,
            "ein": "12-3456789",
            "taxonomy": "261QM0801X",
            "address": {
                "line1": "100 Main St",
                "city": "Springfield",
                "state": "IL",
                "postal_code": "62701-1234",
            },
        }
    )
    setup.create_identity(
        {
            "kind": "person",
            "name": "Clinician",
            "first_name": "Demo",
            "npi": CLINICIAN_NPI,
            "taxonomy": "1041C0700X",
            "user_id": seed.staff[Role.CLINICIAN],
        }
    )
    owner = BillingSetupService(seed.as_(Role.OWNER))
    owner.update_settings(
        owner.settings().version,
        {
            "billing_identity_id": group.id,
            "submitter_id": SUBMITTER,
            "receiver_id": "SYNCH",
            "approval_threshold": Decimal("25.00"),
        },
    )
    setup.create_payer(
        {"name": "Synthetic Health Plan", "payer_id": PAYER_ID, "filing_indicator": "CI"}
    )
    setup.create_fee_schedule(
        {"name": "Practice default", "fees": {k: Decimal(v) for k, v in FEES.items()}}
    )
    desk = PatientService(seed.as_(Role.FRONT_DESK))
    for key, member in (("riley", "MEM100201"), ("avery", "MEM100202")):
        patient = desk.get(seed.ids[key])
        desk.update(
            patient.id,
            patient.version,
            {
                "address": ADDRESS,
                "insurance": {
                    "payer_name": "Synthetic Health Plan",
                    "payer_id": PAYER_ID,
                    "member_id": member,
                },
            },
        )
    _riley_paid(seed)
    _avery_ready(seed)
    # The biller asks to write off Riley's copay, above the $25 threshold: a second
    # person (the owner) decides.
    LedgerService(biller).adjust(
        seed.ids["riley"], "write_off", Decimal("30.00"), "hardship (synthetic)"
    )


def _avery_ready(seed: DemoSeed) -> None:
    """Avery's session yesterday, signed: its claim is built and validated, waiting to be
    batched and sent."""
    from tpm.local.demo_practice import _soap

    day = seed.today - timedelta(days=1)
    writer = NoteService(seed.as_(Role.CLINICIAN, at=seed.local(day, 15)))
    note = writer.create(seed.ids["avery"], "progress_note_soap", None, None, _soap(day))
    writer.sign(note.id, note.version)
    biller = seed.as_(Role.BILLER)
    charges, _ = pending_charges(biller, 100, None)
    charge = next(c for c in charges if c.note_id == note.id)
    ClaimService(biller).create([charge.id])


def _riley_paid(seed: DemoSeed) -> None:
    """Riley's signed note: claim, batch, clearinghouse (simulated 999 and 277CA), then
    the payer's 835 pays it less a contractual adjustment and a copay; the same 835 pays
    a claim the practice never sent (to the exception queue)."""
    biller = seed.as_(Role.BILLER)
    charges, _ = pending_charges(biller, 100, None)
    charge = next(c for c in charges if c.patient_id == seed.ids["riley"])
    claims = ClaimService(biller)
    claim = claims.create([charge.id])
    batch = claims.batch([claim.id])
    Submission(biller).submit(str(batch["id"]))
    Submission(biller).collect()
    accepted = claims.get(claim.id)
    copay = Decimal("30.00")
    lines = []
    for line in accepted.lines:
        contractual = (line.charge * Decimal("0.2")).quantize(Decimal("0.01"))
        adjustments = [Adjustment("CO", "45", contractual)]
        paid = line.charge - contractual
        if copay:
            adjustments.append(Adjustment("PR", "3", copay))
            paid -= copay
        lines.append(
            ServiceLine(
                line.procedure,
                line.modifiers,
                line.charge,
                paid,
                str(line.units),
                line.service_date,
                line.control_number,
                None,
                adjustments,
            )
        )
        copay = Decimal(0)
    paid_total = sum((x.paid for x in lines), Decimal(0))
    payment = ClaimPayment(
        claim_id=accepted.pcn,
        status="1",
        charge=accepted.total,
        paid=paid_total,
        patient_responsibility=Decimal("30.00"),
        filing_indicator="12",
        payer_claim_number=accepted.payer_claim_number or "SIMDEMO",
        lines=lines,
    )
    stray = ClaimPayment(
        claim_id="CNOTOURS01",
        status="1",
        charge=Decimal("150.00"),
        paid=Decimal("150.00"),
        patient_responsibility=Decimal(0),
        filing_indicator="12",
        payer_claim_number="PAYERX9",
    )
    paid_on = seed.today - timedelta(days=1)
    remit = render_835(
        sender=PAYER_ID,
        receiver=SUBMITTER,
        at=seed.now,
        control=501,
        payer_name="SYNTHETIC HEALTH PLAN",
        payer_tin="1999999999",
        payee_name="SYNTHETIC COUNSELING GROUP",
        payee_npi=GROUP_NPI,
        trace=f"EFT{paid_on:%Y%m%d}01",
        payment_date=paid_on,
        claims=[payment, stray],
    )
    InboundFiles(biller).receive(remit)

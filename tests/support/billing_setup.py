"""A practice ready to bill, written straight to the store (synthetic people only): the
billing identity (group NPI 1245319599), a rendering identity for a clinician
(1679576722), a commercial payer, a default fee schedule, settings, insured patients and
pending charges. Used by the authorization matrix, integration tests and benchmarks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal

from tpm.adapters.store.base import Operation, PracticeStore
from tpm.domain.billing.claim837 import PostalAddress
from tpm.domain.billing.claims import ClaimEvent, ClaimLine, ClaimRecord
from tpm.domain.billing.setup import BillingIdentity, BillingSettings, FeeSchedule, Payer
from tpm.domain.notes import ChargeEvent, ChargeLine
from tpm.domain.patients import Address, Insurance, Patient
from tpm.domain.vendors import Agreement, AgreementStatus, Vendor, VendorRole
from tpm.ids import new_id
from tpm.repositories.billing import BillingSetupRepository, ClaimRepository
from tpm.repositories.charges import ChargeRepository
from tpm.repositories.patients import PatientRepository
from tpm.repositories.vendors import VendorRepository
from tpm.security.envelope import FieldCipher
from tpm.services.claims import pcn_for

GROUP_NPI = "1245319599"
CLINICIAN_NPI = "1679576722"
PAYER_ID = "SYNPY1"
FEES = {
    "90791": Decimal("250.00"),
    "90832": Decimal("100.00"),
    "90834": Decimal("150.00"),
    "90837": Decimal("200.00"),
    "90785": Decimal("45.00"),
    "90839": Decimal("260.00"),
    "90840": Decimal("120.00"),
    "90846": Decimal("160.00"),
    "90847": Decimal("170.00"),
    "90853": Decimal("70.00"),
}

Write = Callable[[list[Operation]], None]


def clearinghouse_vendor(now: datetime, *, executed: bool = True) -> Vendor:
    """The practice's clearinghouse in the business associate register (synthetic)."""
    agreement = (
        Agreement(status=AgreementStatus.EXECUTED, executed_on=now.date() - timedelta(days=30))
        if executed
        else Agreement(status=AgreementStatus.SENT)
    )
    return Vendor(
        id=new_id("vnd"),
        key="clearinghouse",
        name="Synthetic Clearinghouse",
        role=VendorRole.CLEARINGHOUSE,
        receives_phi=True,
        agreement=agreement,
        created_at=now,
        updated_at=now,
        updated_by="test-harness",
    )


class BillingFixture:
    def __init__(
        self, store: PracticeStore, cipher: FieldCipher, write: Write, now: datetime
    ) -> None:
        self.store, self.cipher, self.write, self.now = store, cipher, write, now
        self.payer: Payer | None = None
        self.group: BillingIdentity | None = None
        self.rendering: BillingIdentity | None = None

    def set_up(self, clinician_id: str) -> BillingFixture:
        repo = BillingSetupRepository(self.store)
        existing = repo.settings()
        if existing.billing_identity_id:
            self.group = repo.identity(existing.billing_identity_id)
            self.payer = next(p for p in repo.payers() if p.payer_id == PAYER_ID)
            self.rendering = next((i for i in repo.identities() if i.user_id == clinician_id), None)
            return self
        self.group = BillingIdentity(
            id=new_id("bid"),
            kind="organisation",
            name="Synthetic Counseling Group",
            npi=GROUP_NPI,
            ein="123456789",
            taxonomy="261QM0801X",
            address=PostalAddress(
                line1="100 Main St", city="Springfield", state="IL", postal_code="62701-1234"
            ),
        )
        self.rendering = BillingIdentity(
            id=new_id("bid"),
            kind="person",
            name="Example",
            first_name="Riley",
            npi=CLINICIAN_NPI,
            taxonomy="1041C0700X",
            user_id=clinician_id,
        )
        self.payer = Payer(
            id=new_id("pyr"), name="Synthetic Health Plan", payer_id=PAYER_ID, filing_indicator="CI"
        )
        schedule = FeeSchedule(id=new_id("fee"), name="Practice default", fees=FEES)
        settings = BillingSettings(
            billing_identity_id=self.group.id, submitter_id="TPMSYNTH", version=1
        )
        if VendorRepository(self.store, self.cipher).by_key("clearinghouse") is None:
            self.write(list(VendorRepository.create_ops(clearinghouse_vendor(self.now))))
        self.write(
            [
                repo.identity_op(self.group),
                repo.identity_op(self.rendering),
                repo.payer_op(self.payer),
                repo.fee_schedule_op(schedule),
                repo.settings_op(settings),
            ]
        )
        return self

    def insured_patient(
        self, ops: list[Operation] | None = None, last: str = "Testperson"
    ) -> Patient:
        patient = Patient(
            id=new_id("pat"),
            legal_first_name="Jordan",
            legal_last_name=last,
            date_of_birth=date(1985, 5, 5),
            email="jordan@example.test",
            address=Address(line1="1 Elm St", city="Springfield", region="IL", postal_code="62702"),
            insurance=Insurance(
                payer_name="Synthetic Health Plan", payer_id=PAYER_ID, member_id="MEM123456"
            ),
            created_at=self.now,
            created_by="test-harness",
        )
        op = PatientRepository(self.store, self.cipher).create_op(patient)
        if ops is None:
            self.write([op])
        else:
            ops.append(op)
        return patient

    def charge(
        self,
        patient_id: str,
        clinician_id: str,
        ops: list[Operation] | None = None,
        codes: tuple[str, ...] = ("90837",),
        pos: str = "11",
        service_date: date = date(2026, 12, 1),
    ) -> ChargeEvent:
        charge = ChargeEvent(
            id=new_id("chg"),
            note_id=new_id("note"),
            patient_id=patient_id,
            clinician_id=clinician_id,
            service_date=service_date,
            lines=tuple(ChargeLine(cpt_code=c) for c in codes),
            minutes=55,
            place_of_service=pos,
            appointment_id=None,
            created_at=self.now,
            diagnoses=("F33.1", "F41.1"),
            mode="in_person" if pos == "11" else "video",
        )
        op = ChargeRepository.create_op(charge)
        if ops is None:
            self.write([op])
        else:
            ops.append(op)
        return charge

    def claim(
        self,
        patient_id: str,
        status: str = "validated",
        payer_claim_number: str | None = None,
        ops: list[Operation] | None = None,
    ) -> ClaimRecord:
        assert self.payer
        assert self.group
        claim_id = new_id("clm")
        pcn = pcn_for(claim_id)
        record = ClaimRecord(
            id=claim_id,
            pcn=pcn,
            patient_id=patient_id,
            payer_ref=self.payer.id,
            billing_identity_id=self.group.id,
            rendering_identity_id=self.rendering.id if self.rendering else None,
            place_of_service="11",
            diagnoses=("F331",),
            status=status,  # type: ignore[arg-type]
            payer_claim_number=payer_claim_number,
            lines=(
                ClaimLine(
                    control_number=f"{pcn}-1",
                    procedure="90837",
                    charge=Decimal("200.00"),
                    service_date=date(2026, 12, 1),
                ),
            ),
            created_at=self.now,
            history=(ClaimEvent(at=self.now, by="test-harness", event="created"),),
        )
        new_ops = ClaimRepository(self.store).create_ops(record)
        if ops is None:
            self.write(list(new_ops))
        else:
            ops.extend(new_ops)
        return record

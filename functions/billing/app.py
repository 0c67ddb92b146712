"""Integrated billing: set-up (settings, payers, billing identities, fee schedules,
sliding scales), claims from charges (validated 837P), corrections, batches, inbound
999/277CA/835 files with auto-posting and the exception queue, the patient ledger,
desk payments and write-offs/refunds with approval by a second person."""

from __future__ import annotations

import base64
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, Field

from tpm.api.app import create_app, lambda_entry
from tpm.api.context import Cursor, Limit, service_context
from tpm.api.idempotency import idempotent
from tpm.api.models import DecimalStr, IsoDate, RequestModel
from tpm.api.responses import created, created_doc
from tpm.api.views import Page
from tpm.domain.billing.claims import ClaimEvent, ClaimLine, ClaimRecord
from tpm.domain.billing.ledger import AdjustmentRequest, LedgerEntry
from tpm.domain.billing.setup import (
    BillingIdentity,
    BillingSettings,
    FeeSchedule,
    Payer,
    SlidingScale,
    TelehealthRule,
)
from tpm.runtime import get_runtime
from tpm.services.billing_setup import BillingSetupService
from tpm.services.claims import ClaimService
from tpm.services.cms1500 import Cms1500Service
from tpm.services.eligibility import EligibilityService
from tpm.services.good_faith import GoodFaithService
from tpm.services.ledger import LedgerService
from tpm.services.payments import PaymentService, handle_webhook
from tpm.services.reconciliation import ReconciliationService
from tpm.services.remittances import InboundFiles
from tpm.services.statements import StatementService
from tpm.services.submission import Submission
from tpm.services.superbills import SuperbillService

app = create_app("billing")
TAGS = ["billing"]
PATIENT_ID = r"^pat_[0-9a-z]{26}$"
Money = Annotated[DecimalStr, Field(gt=0, max_digits=12, decimal_places=2)]


class _In(RequestModel):
    """Every billing request body: strict, unknown fields refused."""


class PostalAddressIn(_In):
    line1: str = Field(min_length=1, max_length=55)
    line2: str | None = Field(default=None, max_length=55)
    city: str = Field(min_length=1, max_length=30)
    state: str = Field(pattern=r"^[A-Z]{2}$")
    postal_code: str = Field(pattern=r"^\d{5}(-?\d{4})?$")


# ---- set-up ----------------------------------------------------------------------------------


class BillingSettingsIn(_In):
    version: int = Field(ge=0, description="The version you loaded (0 before the first save).")
    billing_identity_id: str | None = Field(default=None, pattern=r"^bid_[0-9a-z]{26}$")
    submitter_id: str | None = Field(default=None, pattern=r"^[A-Z0-9]{2,15}$")
    receiver_id: str | None = Field(default=None, pattern=r"^[A-Z0-9]{2,15}$")
    receiver_name: str | None = Field(default=None, min_length=1, max_length=60)
    contact_name: str | None = Field(default=None, min_length=1, max_length=60)
    contact_phone: str | None = Field(default=None, pattern=r"^\d{10}$")
    office_place_of_service: str | None = Field(default=None, pattern=r"^\d{2}$")
    approval_threshold: DecimalStr | None = Field(
        default=None, ge=0, max_digits=12, decimal_places=2
    )
    usage: Literal["T", "P"] | None = None


class TelehealthRuleIn(_In):
    mode: Literal["video", "audio_only"]
    location: Literal["home", "other"]
    place_of_service: str = Field(pattern=r"^\d{2}$")
    modifiers: list[str] = Field(default_factory=list, max_length=2)


class PayerIn(_In):
    name: str = Field(min_length=1, max_length=60)
    payer_id: str = Field(
        pattern=r"^[A-Za-z0-9]{2,80}$", description="The clearinghouse's payer id."
    )
    filing_indicator: str = Field(
        pattern=r"^[0-9A-Z]{2}$", description="SBR09: CI, MB, MC, BL, HM, ..."
    )
    telehealth: list[TelehealthRuleIn] | None = Field(
        default=None, description="Omit for the commercial default."
    )
    paper: bool = False


class PayerPatchIn(_In):
    version: int = Field(ge=1)
    name: str | None = Field(default=None, min_length=1, max_length=60)
    filing_indicator: str | None = Field(default=None, pattern=r"^[0-9A-Z]{2}$")
    telehealth: list[TelehealthRuleIn] | None = None
    paper: bool | None = None
    active: bool | None = None


class IdentityIn(_In):
    kind: Literal["person", "organisation"]
    name: str = Field(min_length=1, max_length=60)
    first_name: str | None = Field(default=None, max_length=35)
    npi: str = Field(pattern=r"^\d{10}$")
    ein: str | None = Field(default=None, pattern=r"^\d{2}-?\d{7}$")
    taxonomy: str = Field(pattern=r"^[0-9A-Z]{10}$")
    address: PostalAddressIn | None = None
    user_id: str | None = Field(default=None, pattern=r"^usr_[0-9a-z]{26}$")


class FeeScheduleIn(_In):
    name: str = Field(min_length=1, max_length=80)
    payer_id: str | None = Field(
        default=None, pattern=r"^pyr_[0-9a-z]{26}$", description="Omit for the practice default."
    )
    fees: dict[str, Annotated[DecimalStr, Field(ge=0, max_digits=10, decimal_places=2)]]


class SlidingScaleIn(_In):
    percent: DecimalStr = Field(ge=0, le=100, max_digits=5, decimal_places=2)
    reason: str = Field(min_length=1, max_length=200)


def _set(body: BaseModel) -> dict[str, Any]:
    return body.model_dump(exclude_none=True, exclude={"version"})


@app.get("/v1/billing/settings", summary="The practice's billing set-up", tags=TAGS)
def get_settings() -> BillingSettings:
    return BillingSetupService(service_context(app)).settings()


@app.put("/v1/billing/settings", summary="Change the billing set-up", tags=TAGS)
def put_settings(body: BillingSettingsIn) -> BillingSettings:
    return BillingSetupService(service_context(app)).update_settings(body.version, _set(body))


@app.get("/v1/billing/payers", summary="Payers with their telehealth rules", tags=TAGS)
def list_payers() -> list[Payer]:
    return BillingSetupService(service_context(app)).payers()


@app.post(
    "/v1/billing/payers",
    summary="Add a payer",
    tags=TAGS,
    responses=created_doc(Payer),
    middlewares=[idempotent],
)
def create_payer(body: PayerIn) -> Response[str]:
    fields = _set(body)
    if body.telehealth is None:
        fields.pop("telehealth", None)
    payer = BillingSetupService(service_context(app)).create_payer(fields)
    return created(payer, f"/v1/billing/payers/{payer.id}")


@app.patch("/v1/billing/payers/<payerId>", summary="Change a payer", tags=TAGS)
def patch_payer(payerId: str, body: PayerPatchIn) -> Payer:  # noqa: N803
    return BillingSetupService(service_context(app)).update_payer(payerId, body.version, _set(body))


@app.get(
    "/v1/billing/identities",
    summary="Billing and rendering identities (NPI, EIN, taxonomy)",
    tags=TAGS,
)
def list_identities() -> list[BillingIdentity]:
    return BillingSetupService(service_context(app)).identities()


@app.post(
    "/v1/billing/identities",
    summary="Add a billing identity",
    tags=TAGS,
    responses=created_doc(BillingIdentity),
    middlewares=[idempotent],
)
def create_identity(body: IdentityIn) -> Response[str]:
    identity = BillingSetupService(service_context(app)).create_identity(_set(body))
    return created(identity, f"/v1/billing/identities/{identity.id}")


@app.get("/v1/billing/fee-schedules", summary="Fee schedules", tags=TAGS)
def list_fee_schedules() -> list[FeeSchedule]:
    return BillingSetupService(service_context(app)).fee_schedules()


@app.post(
    "/v1/billing/fee-schedules",
    summary="Add a fee schedule (practice default or per payer)",
    tags=TAGS,
    responses=created_doc(FeeSchedule),
    middlewares=[idempotent],
)
def create_fee_schedule(body: FeeScheduleIn) -> Response[str]:
    schedule = BillingSetupService(service_context(app)).create_fee_schedule(_set(body))
    return created(schedule, f"/v1/billing/fee-schedules/{schedule.id}")


@app.put(
    "/v1/patients/<patientId>/sliding-scale",
    summary="Set a self-pay patient's sliding-scale discount",
    tags=TAGS,
)
def put_sliding_scale(patientId: str, body: SlidingScaleIn) -> SlidingScale:  # noqa: N803
    return BillingSetupService(service_context(app)).set_sliding_scale(patientId, body.model_dump())


# ---- claims ----------------------------------------------------------------------------------


class ClaimIn(_In):
    charge_ids: list[Annotated[str, Field(pattern=r"^chg_[0-9a-z]{26}$")]] = Field(
        min_length=1, max_length=50
    )
    diagnoses: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9.]{3,8}$")]] | None = Field(
        default=None,
        max_length=12,
        description="ICD-10-CM, principal first; omit to use the notes' diagnoses.",
    )
    prior_authorization: str | None = Field(default=None, pattern=r"^[A-Za-z0-9-]{1,50}$")


class CorrectionIn(_In):
    frequency: Literal["7", "8"] = Field(description="7 replacement, 8 void.")
    diagnoses: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9.]{3,8}$")]] | None = Field(
        default=None, max_length=12
    )


class ResubmitIn(_In):
    version: int = Field(ge=1, description="The claim version you loaded.")


class BatchIn(_In):
    claim_ids: list[Annotated[str, Field(pattern=r"^clm_[0-9a-z]{26}$")]] = Field(
        min_length=1, max_length=1000
    )


class ClaimProblemView(BaseModel):
    loop: str
    segment: str
    position: int
    element: str
    message: str
    source: str


class ClaimView(BaseModel):
    """A claim as billing facts: codes, amounts, dates, ids, status and history."""

    id: str
    pcn: str
    patient_id: str
    payer_ref: str
    billing_identity_id: str
    rendering_identity_id: str | None
    charge_ids: list[str]
    place_of_service: str
    frequency: str
    corrects: str | None
    payer_claim_number: str | None
    prior_authorization: str | None
    part2_consent_id: str | None
    part2_notice: str | None
    diagnoses: list[str]
    lines: list[ClaimLine]
    total: Decimal
    status: str
    problems: list[ClaimProblemView]
    batch_id: str | None
    paid: Decimal
    patient_responsibility: Decimal
    history: list[ClaimEvent]
    created_at: datetime
    version: int

    @classmethod
    def of(cls, c: ClaimRecord) -> ClaimView:
        return cls.model_validate(c.model_dump() | {"total": c.total})


class BatchView(BaseModel):
    id: str
    group_control: str
    interchange_control: int
    claim_ids: list[str]
    claim_count: int
    total: Decimal
    status: str
    created_at: datetime


@app.post(
    "/v1/claims",
    summary="Build and validate a claim from charges",
    tags=TAGS,
    responses=created_doc(ClaimView),
    middlewares=[idempotent],
)
def create_claim(body: ClaimIn) -> Response[str]:
    claim = ClaimService(service_context(app)).create(
        body.charge_ids, body.diagnoses, body.prior_authorization
    )
    return created(ClaimView.of(claim), f"/v1/claims/{claim.id}")


class SelfPayView(BaseModel):
    charge_id: str
    entries: list[LedgerEntry]


@app.post(
    "/v1/charges/<chargeId>/self-pay",
    summary="Bill a charge to the patient (self-pay, less any sliding-scale discount)",
    tags=TAGS,
)
def bill_self_pay(chargeId: str) -> SelfPayView:  # noqa: N803
    entries = ClaimService(service_context(app)).bill_self_pay(chargeId)
    return SelfPayView(charge_id=chargeId, entries=entries)


@app.get("/v1/claims", summary="Claims by status (work queues)", tags=TAGS)
def list_claims(
    status: Annotated[
        Literal[
            "invalid",
            "validated",
            "batched",
            "submitted",
            "rejected",
            "accepted",
            "paid",
            "partial",
            "denied",
            "closed",
            "void",
        ],
        Query(),
    ] = "validated",
    limit: Limit = 25,
    cursor: Cursor = None,
) -> Page[ClaimView]:
    found, next_cursor = ClaimService(service_context(app)).by_status(status, limit, cursor)
    return Page[ClaimView](items=[ClaimView.of(c) for c in found], next_cursor=next_cursor)


@app.get("/v1/claims/<claimId>", summary="A claim with its history", tags=TAGS)
def get_claim(claimId: str) -> ClaimView:  # noqa: N803
    return ClaimView.of(ClaimService(service_context(app)).get(claimId))


@app.post(
    "/v1/claims/<claimId>/corrections",
    summary="Replace (7) or void (8) an adjudicated claim (needs the payer's claim number)",
    tags=TAGS,
    responses=created_doc(ClaimView),
    middlewares=[idempotent],
)
def correct_claim(claimId: str, body: CorrectionIn) -> Response[str]:  # noqa: N803
    claim = ClaimService(service_context(app)).correct(claimId, body.frequency, body.diagnoses)
    return created(ClaimView.of(claim), f"/v1/claims/{claim.id}")


@app.post(
    "/v1/claims/<claimId>/resubmit",
    summary="Validate a claim with problems or a rejected claim again, as an original",
    tags=TAGS,
)
def resubmit_claim(claimId: str, body: ResubmitIn) -> ClaimView:  # noqa: N803
    return ClaimView.of(ClaimService(service_context(app)).resubmit(claimId, body.version))


@app.post(
    "/v1/claim-batches",
    summary="Batch validated claims into one validated 837P file",
    tags=TAGS,
    responses=created_doc(BatchView),
    middlewares=[idempotent],
)
def create_batch(body: BatchIn) -> Response[str]:
    batch = ClaimService(service_context(app)).batch(body.claim_ids)
    return created(BatchView.model_validate(batch), f"/v1/claim-batches/{batch['id']}")


# ---- inbound files, exceptions ------------------------------------------------------------------


class InboundIn(_In):
    content: str = Field(
        min_length=106, max_length=4_000_000, description="A 999, 277CA or 835 as text."
    )


class InboundView(BaseModel):
    id: str
    kind: str
    status: str
    claims_updated: int
    claims_posted: int
    exceptions: int
    balanced: bool | None


class ExceptionView(BaseModel):
    id: str
    at: datetime
    status: str
    kind: str
    remit_id: str
    claim_ref: str | None
    amount: Decimal | None
    message: str
    version: int = 1
    resolution: str | None = None
    note: str | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None


class ResolveIn(_In):
    version: int = Field(ge=1, description="The version you loaded.")
    resolution: Literal[
        "posted_by_hand", "claim_corrected", "payer_contacted", "duplicate", "not_ours", "other"
    ]
    note: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9 .,;:()'/#-]+$",
        description="Codes and ids (claim, trace, check number), never clinical detail.",
    )


@app.post(
    "/v1/billing/inbound",
    summary="Receive a 999, 277CA or 835 (835s are auto-posted)",
    tags=TAGS,
    responses=created_doc(InboundView),
    middlewares=[idempotent],
)
def receive_file(body: InboundIn) -> Response[str]:
    result = InboundFiles(service_context(app)).receive(body.content)
    return created(InboundView.model_validate(result.__dict__), f"/v1/billing/inbound/{result.id}")


@app.get("/v1/billing/exceptions", summary="The posting exception queue", tags=TAGS)
def list_exceptions(
    status: Annotated[Literal["open", "resolved"], Query()] = "open",
    limit: Limit = 25,
    cursor: Cursor = None,
) -> Page[ExceptionView]:
    items, next_cursor = InboundFiles(service_context(app)).exceptions(status, limit, cursor)
    return Page[ExceptionView](
        items=[ExceptionView.model_validate(i) for i in items], next_cursor=next_cursor
    )


@app.post(
    "/v1/billing/exceptions/<exceptionId>/resolve",
    summary="Close an exception with how it was dealt with",
    tags=TAGS,
)
def resolve_exception(exceptionId: str, body: ResolveIn) -> ExceptionView:  # noqa: N803
    resolved = InboundFiles(service_context(app)).resolve(
        exceptionId, body.version, body.resolution, body.note
    )
    return ExceptionView.model_validate(resolved)


# ---- ledger ------------------------------------------------------------------------------------


class LedgerView(BaseModel):
    patient_id: str
    entries: list[LedgerEntry]
    insurance_balance: Decimal
    patient_balance: Decimal
    total_balance: Decimal
    by_payer: dict[str, Decimal]
    aging: dict[str, dict[str, Decimal]]


class PaymentIn(_In):
    amount: Money
    method: Literal["cash", "check"]
    reference: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9-]{1,30}$", description="Check number."
    )


class AdjustmentIn(_In):
    kind: Literal["write_off", "refund"]
    amount: Money
    reason: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9 .,;:()'/-]+$")


class DecisionIn(_In):
    approve: bool


@app.get(
    "/v1/patients/<patientId>/ledger", summary="A patient's ledger, balances and aging", tags=TAGS
)
def patient_ledger(patientId: str) -> LedgerView:  # noqa: N803
    ledger = LedgerService(service_context(app)).patient_ledger(patientId)
    return LedgerView(
        patient_id=patientId,
        entries=ledger.entries,
        insurance_balance=ledger.balance.insurance,
        patient_balance=ledger.balance.patient,
        total_balance=ledger.balance.total,
        by_payer=ledger.by_payer,
        aging=ledger.aging,
    )


@app.post(
    "/v1/patients/<patientId>/payments",
    summary="Record a payment at the desk (cash, check)",
    tags=TAGS,
    responses=created_doc(LedgerEntry),
    middlewares=[idempotent],
)
def take_payment(patientId: str, body: PaymentIn) -> Response[str]:  # noqa: N803
    entry = LedgerService(service_context(app)).take_payment(
        patientId, body.amount, body.method, body.reference
    )
    return created(entry, f"/v1/patients/{patientId}/ledger")


@app.post(
    "/v1/patients/<patientId>/adjustments",
    summary="Write off or refund (above the threshold: a request for a second person)",
    tags=TAGS,
    responses=created_doc(LedgerEntry),
    middlewares=[idempotent],
)
def adjust(patientId: str, body: AdjustmentIn) -> Response[str]:  # noqa: N803
    result = LedgerService(service_context(app)).adjust(
        patientId, body.kind, body.amount, body.reason
    )
    if isinstance(result, AdjustmentRequest):
        return Response(
            status_code=202,
            content_type="application/json",
            body=result.model_dump_json(),
            headers={"Location": f"/v1/adjustment-requests/{result.id}"},
        )
    return created(result, f"/v1/patients/{patientId}/ledger")


@app.get(
    "/v1/adjustment-requests", summary="Write-offs and refunds waiting for approval", tags=TAGS
)
def list_requests(limit: Limit = 25, cursor: Cursor = None) -> Page[AdjustmentRequest]:
    found, next_cursor = LedgerService(service_context(app)).requests(limit, cursor)
    return Page[AdjustmentRequest](items=found, next_cursor=next_cursor)


@app.post(
    "/v1/adjustment-requests/<requestId>/decision",
    summary="Approve or reject (never your own)",
    tags=TAGS,
)
def decide(requestId: str, body: DecisionIn) -> AdjustmentRequest:  # noqa: N803
    return LedgerService(service_context(app)).decide(requestId, body.approve)


# ---- clearinghouse, statements ------------------------------------------------------------------


class BillingSubmittedView(BaseModel):
    id: str
    status: str
    clearinghouse: str
    reference: str
    submitted_at: datetime


class CollectedItem(BaseModel):
    name: str
    kind: str | None
    status: str | None
    claims_updated: int
    claims_posted: int
    exceptions: int
    error: str | None


class CollectedView(BaseModel):
    items: list[CollectedItem]


class StatementOut(BaseModel):
    filename: str
    content_type: str
    size_bytes: int
    content_base64: str
    patient_balance: Decimal


@app.post(
    "/v1/claim-batches/<batchId>/submit",
    summary="Send a batched 837P to the clearinghouse",
    tags=TAGS,
)
def submit_batch(batchId: str) -> BillingSubmittedView:  # noqa: N803
    return BillingSubmittedView.model_validate(Submission(service_context(app)).submit(batchId))


@app.post(
    "/v1/billing/clearinghouse/collect",
    summary="Collect and apply the clearinghouse's response files (999, 277CA, 835)",
    tags=TAGS,
)
def collect_responses() -> CollectedView:
    items = []
    for c in Submission(service_context(app)).collect():
        r = c.result
        items.append(
            CollectedItem(
                name=c.name,
                kind=r.kind if r else None,
                status=r.status if r else None,
                claims_updated=r.claims_updated if r else 0,
                claims_posted=r.claims_posted if r else 0,
                exceptions=r.exceptions if r else 0,
                error=c.error,
            )
        )
    return CollectedView(items=items)


def _statement(patient_id: str) -> StatementOut:
    data, balance = StatementService(service_context(app)).pdf(patient_id)
    return StatementOut(
        filename="statement.pdf",
        content_type="application/pdf",
        size_bytes=len(data),
        content_base64=base64.b64encode(data).decode("ascii"),
        patient_balance=balance,
    )


@app.get(
    "/v1/patients/<patientId>/statement",
    summary="A patient statement as PDF, base64 in JSON",
    tags=TAGS,
)
def patient_statement(patientId: str) -> StatementOut:  # noqa: N803
    return _statement(patientId)


@app.get("/v1/me/statement", summary="My statement as PDF (portal), base64 in JSON", tags=TAGS)
def my_statement() -> StatementOut:
    return _statement(StatementService(service_context(app)).my_patient_id())


# ---- card payments, reconciliation -------------------------------------------------------------


class CheckoutIn(_In):
    amount: Money


class CheckoutView(BaseModel):
    checkout_id: str
    url: str
    amount: Decimal


class WebhookView(BaseModel):
    received: str


class BankStatementIn(_In):
    format: Literal["csv", "ofx"]
    content: str = Field(min_length=1, max_length=2_000_000)
    start: IsoDate | None = None
    end: IsoDate | None = None


class ReconciliationView(BaseModel):
    matched: list[dict[str, Any]]
    differing: list[dict[str, Any]]
    deposits_without_source: list[dict[str, Any]]
    remittances_without_deposit: list[dict[str, Any]]
    payouts_without_deposit: list[dict[str, Any]]


class RollForwardView(BaseModel):
    month: str
    begin_ar: Decimal
    charges: Decimal
    payments: Decimal
    adjustments: Decimal
    refunds: Decimal
    reversals: Decimal
    end_ar: Decimal
    ledger_end_ar: Decimal


@app.post(
    "/v1/patients/<patientId>/card-checkout",
    summary="Start a hosted card checkout for an amount (no PHI goes to the processor)",
    tags=TAGS,
    responses=created_doc(CheckoutView),
    middlewares=[idempotent],
)
def card_checkout(patientId: str, body: CheckoutIn) -> Response[str]:  # noqa: N803
    started = PaymentService(service_context(app)).checkout(patientId, body.amount)
    return created(CheckoutView.model_validate(started.__dict__), started.url)


@app.post(
    "/v1/payments/webhook",
    summary="The card processor's signed events (public; verified, idempotent)",
    tags=TAGS,
)
def payment_webhook() -> WebhookView:
    event = app.current_event
    headers = {k.lower(): v for k, v in (event.headers or {}).items()}
    body = (event.body or "").encode("utf-8")
    return WebhookView(
        received=handle_webhook(get_runtime(), body, headers.get("webhook-signature", ""))
    )


@app.post(
    "/v1/reconciliation/bank-statements",
    summary="Match a bank statement (CSV or OFX) to 835 EFTs and card payouts",
    tags=TAGS,
)
def bank_statement(body: BankStatementIn) -> ReconciliationView:
    report = ReconciliationService(service_context(app)).bank_statement(
        body.format, body.content, body.start, body.end
    )
    return ReconciliationView.model_validate(report.__dict__)


@app.get("/v1/reconciliation/ar", summary="Month-end AR roll-forward", tags=TAGS)
def ar_roll_forward(month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$")]) -> RollForwardView:
    return RollForwardView(
        month=month, **ReconciliationService(service_context(app)).roll_forward(month)
    )


# ---- Good Faith Estimates -----------------------------------------------------------------------


class EstimateItemIn(_In):
    procedure: str = Field(pattern=r"^[0-9A-Z]{5}$")
    description: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9 .,;:()+/-]+$")
    fee: DecimalStr = Field(ge=0, max_digits=10, decimal_places=2)
    quantity_min: int = Field(ge=0, le=500)
    quantity_max: int = Field(ge=1, le=500)


class EstimateIn(_In):
    provider_identity_id: str = Field(pattern=r"^bid_[0-9a-z]{26}$")
    items: list[EstimateItemIn] = Field(min_length=1, max_length=20)
    diagnoses: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9.]{3,8}$")]] = Field(
        default_factory=list, max_length=12
    )
    period_start: IsoDate
    period_end: IsoDate
    service_date: IsoDate | None = Field(
        default=None,
        description="The first scheduled session; omit when the patient asked without scheduling.",
    )


class EstimateView(BaseModel):
    id: str
    patient_id: str
    provider_identity_id: str
    items: list[EstimateItemIn]
    diagnoses: list[str]
    period_start: date
    period_end: date
    asked_on: date
    due_by: date | None
    total_min: Decimal
    total_max: Decimal
    dispute_threshold: Decimal
    billed: Decimal | None = None
    dispute_warning: bool | None = None
    created_at: datetime


def _estimate_view(
    e: Any, billed: Decimal | None = None, warning: bool | None = None
) -> EstimateView:
    return EstimateView.model_validate(
        e.model_dump(exclude={"created_by"})
        | {
            "total_min": e.total_min,
            "total_max": e.total_max,
            "dispute_threshold": e.dispute_threshold,
            "billed": billed,
            "dispute_warning": warning,
        }
    )


@app.post(
    "/v1/patients/<patientId>/good-faith-estimates",
    summary="Write a Good Faith Estimate for a self-pay patient",
    tags=TAGS,
    responses=created_doc(EstimateView),
    middlewares=[idempotent],
)
def create_estimate(patientId: str, body: EstimateIn) -> Response[str]:  # noqa: N803
    fields = body.model_dump(exclude={"service_date"})
    estimate = GoodFaithService(service_context(app)).create(patientId, fields, body.service_date)
    return created(_estimate_view(estimate), f"/v1/patients/{patientId}/good-faith-estimates")


@app.get(
    "/v1/patients/<patientId>/good-faith-estimates",
    summary="A patient's Good Faith Estimates with billed-to-date and the $400 warning",
    tags=TAGS,
)
def list_estimates(patientId: str) -> list[EstimateView]:  # noqa: N803
    reads = GoodFaithService(service_context(app)).for_patient(patientId)
    return [_estimate_view(r.estimate, r.billed, r.warning) for r in reads]


@app.get(
    "/v1/patients/<patientId>/good-faith-estimates/<estimateId>/pdf",
    summary="A Good Faith Estimate as PDF, base64 in JSON",
    tags=TAGS,
)
def estimate_pdf(patientId: str, estimateId: str) -> StatementOut:  # noqa: N803
    data = GoodFaithService(service_context(app)).pdf(patientId, estimateId)
    return StatementOut(
        filename="good-faith-estimate.pdf",
        content_type="application/pdf",
        size_bytes=len(data),
        content_base64=base64.b64encode(data).decode("ascii"),
        patient_balance=Decimal(0),
    )


@app.get(
    "/v1/patients/<patientId>/superbill",
    summary="A superbill for out-of-network reimbursement, as PDF (base64 in JSON)",
    tags=TAGS,
)
def superbill(
    patientId: str,  # noqa: N803
    start: Annotated[date, Query(alias="from")],
    end: Annotated[date, Query(alias="to")],
) -> StatementOut:
    data = SuperbillService(service_context(app)).pdf(patientId, start, end)
    return StatementOut(
        filename="superbill.pdf",
        content_type="application/pdf",
        size_bytes=len(data),
        content_base64=base64.b64encode(data).decode("ascii"),
        patient_balance=Decimal(0),
    )


class BenefitView(BaseModel):
    service_types: list[str]
    kind: str
    coverage_level: str
    period: str
    amount: Decimal | None
    percent: Decimal | None
    authorization_required: bool | None
    in_network: bool | None
    message: str


class EligibilityView(BaseModel):
    id: str
    active: bool | None
    benefits: list[BenefitView]
    rejections: list[str]
    other_payer: str | None


@app.post(
    "/v1/patients/<patientId>/eligibility",
    summary="Check eligibility (270/271) for the mental-health service types",
    tags=TAGS,
)
def check_eligibility(patientId: str) -> EligibilityView:  # noqa: N803
    check_id, result = EligibilityService(service_context(app)).check(patientId)
    return EligibilityView(
        id=check_id,
        active=result.active,
        benefits=[BenefitView.model_validate(b.__dict__) for b in result.benefits],
        rejections=result.rejections,
        other_payer=result.other_payer,
    )


@app.get(
    "/v1/claims/<claimId>/cms1500",
    summary="A claim on the CMS-1500 form (paper payers), PDF base64 in JSON",
    tags=TAGS,
)
def claim_cms1500(claimId: str) -> StatementOut:  # noqa: N803
    data = Cms1500Service(service_context(app)).pdf(claimId)
    return StatementOut(
        filename="cms1500.pdf",
        content_type="application/pdf",
        size_bytes=len(data),
        content_base64=base64.b64encode(data).decode("ascii"),
        patient_balance=Decimal(0),
    )


_ = (date, TelehealthRule)  # re-exported types used in the OpenAPI models
lambda_handler = lambda_entry(app, "billing", max_body_bytes=5_000_000)

"""Stored shape of billing records. Nothing here is sealed field by field: these rows hold
ids, codes, dates and amounts (billing facts). The X12 files themselves, which name
people, live sealed in the file store (`runtime.files`), referenced by id.

BILLING / SETTINGS                       practice billing set-up (version)
BILLING / PAYER#<pyr>                    payer with telehealth rules (version)
BILLING / IDENTITY#<bid>                 billing identity: NPI, EIN, taxonomy (version)
BILLING / FEES#<fee>                     fee schedule (version)
BILLING / COUNTER#<name>                 control-number counters (version)
PATIENT#<pat> / SLIDING_SCALE            a self-pay patient's discount (version)
CLAIM#<clm> / CLAIM                      claim (gsi1 CLAIMS#<status> / <created>#<clm>,
                                         gsi2 PATIENT_CLAIMS#<pat> / <created>#<clm>)
CLAIM_PCN#<pcn> / CLAIM                  our claim control number -> claim id
CLAIM#<clm> / WORKFLOW                   the claim workflow's callback token and stage
                                         (token sealed)
CLAIM#<clm> / DONE#<task key>            a workflow task already applied (idempotency)
BATCH#<bat> / BATCH                      an 837P file (gsi1 BATCH_GS#<GS06> / BATCH)
LEDGER#<pat> / <at>#<led>                ledger entry, append-only
                                         (gsi1 LEDGER_MONTH#<yyyy-mm> / <at>#<led>,
                                          gsi2 CLAIM_LEDGER#<clm> / <at>#<led>)
PROVIDER_LEDGER / <at>#<plb>             provider-level adjustment (PLB)
REMIT#<rmt> / REMIT                      received file (999, 277CA, 835)
                                         (gsi1 REMITS / <at>#<rmt>)
REMIT_KEY#<sha256> / REMIT               dedupe key of an 835 (Absent)
BILLING_EXCEPTION#<exc> / EXCEPTION      exception queue
                                         (gsi1 BILLING_EXCEPTIONS#<status> / <at>#<exc>)
ADJ_REQUEST#<adj> / REQUEST              write-off/refund awaiting approval
                                         (gsi1 ADJ_REQUESTS#<status> / <at>#<adj>)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from tpm.adapters.store.base import Absent, Item, PracticeStore, Put, VersionIs, iterate
from tpm.domain.billing.claims import ClaimRecord
from tpm.domain.billing.ledger import AdjustmentRequest, LedgerEntry
from tpm.domain.billing.setup import (
    BillingIdentity,
    BillingSettings,
    FeeSchedule,
    Payer,
    SlidingScale,
)
from tpm.repositories.sealing import Sealer
from tpm.security.envelope import FieldCipher

M = TypeVar("M", bound=BaseModel)
_LAYOUT = frozenset({"pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"})
SETUP_PK = "BILLING"


def _data(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")


def _load(cls: type[M], item: Item) -> M:
    return cls.model_validate({k: v for k, v in item.items() if k not in _LAYOUT})


def _stamp(at: datetime) -> str:
    return at.isoformat(timespec="microseconds")


def _versioned(item: Item, version: int) -> Put:
    return Put(item, Absent() if version <= 1 else VersionIs(version - 1))


class BillingSetupRepository:
    def __init__(self, store: PracticeStore) -> None:
        self.store = store

    def _list(self, prefix: str, cls: type[M]) -> list[M]:
        return [_load(cls, i) for i in iterate(self.store, SETUP_PK, sk_prefix=prefix)]

    def settings(self) -> BillingSettings:
        item = self.store.get(SETUP_PK, "SETTINGS")
        return BillingSettings() if item is None else _load(BillingSettings, item)

    def settings_op(self, settings: BillingSettings) -> Put:
        item = {"pk": SETUP_PK, "sk": "SETTINGS", **_data(settings)}
        return Put(item, Absent() if settings.version == 1 else VersionIs(settings.version - 1))

    def payers(self) -> list[Payer]:
        return self._list("PAYER#", Payer)

    def payer(self, payer_ref: str) -> Payer | None:
        item = self.store.get(SETUP_PK, f"PAYER#{payer_ref}")
        return None if item is None else _load(Payer, item)

    def payer_op(self, payer: Payer) -> Put:
        return _versioned(
            {"pk": SETUP_PK, "sk": f"PAYER#{payer.id}", **_data(payer)}, payer.version
        )

    def identities(self) -> list[BillingIdentity]:
        return self._list("IDENTITY#", BillingIdentity)

    def identity(self, identity_id: str) -> BillingIdentity | None:
        item = self.store.get(SETUP_PK, f"IDENTITY#{identity_id}")
        return None if item is None else _load(BillingIdentity, item)

    def identity_op(self, identity: BillingIdentity) -> Put:
        item = {"pk": SETUP_PK, "sk": f"IDENTITY#{identity.id}", **_data(identity)}
        return _versioned(item, identity.version)

    def fee_schedules(self) -> list[FeeSchedule]:
        return self._list("FEES#", FeeSchedule)

    def fee_schedule_op(self, schedule: FeeSchedule) -> Put:
        item = {"pk": SETUP_PK, "sk": f"FEES#{schedule.id}", **_data(schedule)}
        return _versioned(item, schedule.version)

    def sliding_scale(self, patient_id: str) -> SlidingScale | None:
        item = self.store.get(f"PATIENT#{patient_id}", "SLIDING_SCALE")
        return None if item is None else _load(SlidingScale, item)

    def sliding_scale_op(self, scale: SlidingScale) -> Put:
        item = {"pk": f"PATIENT#{scale.patient_id}", "sk": "SLIDING_SCALE", **_data(scale)}
        return _versioned(item, scale.version)

    def counter(self, name: str) -> tuple[int, int]:
        """(current value, version) of a control-number counter."""
        item = self.store.get(SETUP_PK, f"COUNTER#{name}")
        return (0, 0) if item is None else (int(item["value"]), int(item["version"]))

    def counter_op(self, name: str, value: int, version: int) -> Put:
        item = {"pk": SETUP_PK, "sk": f"COUNTER#{name}", "value": value, "version": version + 1}
        return Put(item, Absent() if version == 0 else VersionIs(version))


class ClaimRepository:
    def __init__(self, store: PracticeStore) -> None:
        self.store = store

    def get(self, claim_id: str) -> ClaimRecord | None:
        item = self.store.get(f"CLAIM#{claim_id}", "CLAIM")
        return None if item is None else _load(ClaimRecord, item)

    def by_pcn(self, pcn: str) -> ClaimRecord | None:
        item = self.store.get(f"CLAIM_PCN#{pcn}", "CLAIM")
        return None if item is None else self.get(str(item["claim_id"]))

    def with_status(
        self, status: str, limit: int, cursor: str | None
    ) -> tuple[list[ClaimRecord], str | None]:
        page = self.store.query(f"CLAIMS#{status}", index="gsi1", limit=limit, cursor=cursor)
        return [_load(ClaimRecord, i) for i in page.items], page.next_cursor

    def for_patient(
        self, patient_id: str, limit: int, cursor: str | None
    ) -> tuple[list[ClaimRecord], str | None]:
        page = self.store.query(
            f"PATIENT_CLAIMS#{patient_id}", index="gsi2", limit=limit, cursor=cursor
        )
        return [_load(ClaimRecord, i) for i in page.items], page.next_cursor

    @staticmethod
    def to_item(claim: ClaimRecord) -> Item:
        stamp = f"{_stamp(claim.created_at)}#{claim.id}"
        return {
            "pk": f"CLAIM#{claim.id}",
            "sk": "CLAIM",
            "gsi1pk": f"CLAIMS#{claim.status}",
            "gsi1sk": stamp,
            "gsi2pk": f"PATIENT_CLAIMS#{claim.patient_id}",
            "gsi2sk": stamp,
            **_data(claim),
        }

    def create_ops(self, claim: ClaimRecord) -> list[Put]:
        return [
            Put(self.to_item(claim), Absent()),
            Put({"pk": f"CLAIM_PCN#{claim.pcn}", "sk": "CLAIM", "claim_id": claim.id}, Absent()),
        ]

    def update_op(self, claim: ClaimRecord) -> Put:
        return Put(self.to_item(claim), VersionIs(claim.version - 1))


class ClaimWorkflowRepository:
    """Where the claim workflow (statemachines/billing.asl.json) keeps its callback token:
    one row per claim, the token sealed (whoever holds it can move the execution on)."""

    KIND = "claim-workflow-token"

    def __init__(self, store: PracticeStore, cipher: FieldCipher) -> None:
        self.store = store
        self.cipher = cipher

    def _sealer(self, claim_id: str) -> Sealer:
        return Sealer(self.cipher, self.store.practice_id, self.KIND, claim_id)

    def token(self, claim_id: str) -> tuple[str, str] | None:
        """(token, stage) the execution waits with, if any."""
        item = self.store.get(f"CLAIM#{claim_id}", "WORKFLOW")
        if item is None:
            return None
        token = self._sealer(claim_id).open("token", item.get("token"))
        return (token, str(item["stage"])) if token else None

    def token_op(self, claim_id: str, token: str, stage: str, at: datetime) -> Put:
        return Put(
            {
                "pk": f"CLAIM#{claim_id}",
                "sk": "WORKFLOW",
                "token": self._sealer(claim_id).seal("token", token),
                "stage": stage,
                "stored_at": _stamp(at),
            }
        )

    def done(self, claim_id: str, key: str) -> bool:
        return self.store.get(f"CLAIM#{claim_id}", f"DONE#{key}") is not None

    @staticmethod
    def done_op(claim_id: str, key: str) -> Put:
        return Put({"pk": f"CLAIM#{claim_id}", "sk": f"DONE#{key}"}, Absent())


class BatchRepository:
    def __init__(self, store: PracticeStore) -> None:
        self.store = store

    def create_op(self, batch: dict[str, Any]) -> Put:
        item = {
            "pk": f"BATCH#{batch['id']}",
            "sk": "BATCH",
            "gsi1pk": f"BATCH_GS#{batch['group_control']}",
            "gsi1sk": "BATCH",
            **batch,
        }
        return Put(item, Absent())

    def get(self, batch_id: str) -> dict[str, Any] | None:
        item = self.store.get(f"BATCH#{batch_id}", "BATCH")
        return None if item is None else {k: v for k, v in item.items() if k not in _LAYOUT}

    def by_group_control(self, group_control: str) -> dict[str, Any] | None:
        page = self.store.query(f"BATCH_GS#{group_control}", index="gsi1", limit=1)
        if not page.items:
            return None
        return {k: v for k, v in page.items[0].items() if k not in _LAYOUT}

    def update_op(self, batch: dict[str, Any]) -> Put:
        item = {
            "pk": f"BATCH#{batch['id']}",
            "sk": "BATCH",
            "gsi1pk": f"BATCH_GS#{batch['group_control']}",
            "gsi1sk": "BATCH",
            **batch,
        }
        return Put(item, VersionIs(int(batch["version"]) - 1))


class LedgerRepository:
    def __init__(self, store: PracticeStore) -> None:
        self.store = store

    @staticmethod
    def entry_op(entry: LedgerEntry) -> Put:
        sk = f"{_stamp(entry.at)}#{entry.id}"
        item: Item = {
            "pk": f"LEDGER#{entry.patient_id}",
            "sk": sk,
            "gsi1pk": f"LEDGER_MONTH#{entry.at.strftime('%Y-%m')}",
            "gsi1sk": sk,
            **_data(entry),
        }
        if entry.claim_id:
            item |= {"gsi2pk": f"CLAIM_LEDGER#{entry.claim_id}", "gsi2sk": sk}
        return Put(item, Absent())

    def for_patient(self, patient_id: str) -> list[LedgerEntry]:
        return [_load(LedgerEntry, i) for i in iterate(self.store, f"LEDGER#{patient_id}")]

    def for_claim(self, claim_id: str) -> list[LedgerEntry]:
        return [
            _load(LedgerEntry, i)
            for i in iterate(self.store, f"CLAIM_LEDGER#{claim_id}", index="gsi2")
        ]

    def for_month(self, month: str) -> list[LedgerEntry]:
        return [
            _load(LedgerEntry, i)
            for i in iterate(self.store, f"LEDGER_MONTH#{month}", index="gsi1")
        ]

    @staticmethod
    def provider_op(entry: dict[str, Any]) -> Put:
        item = {"pk": "PROVIDER_LEDGER", "sk": f"{entry['at']}#{entry['id']}", **entry}
        return Put(item, Absent())

    def provider_entries(self) -> list[dict[str, Any]]:
        return [
            {k: v for k, v in i.items() if k not in _LAYOUT}
            for i in iterate(self.store, "PROVIDER_LEDGER")
        ]

    def request(self, request_id: str) -> AdjustmentRequest | None:
        item = self.store.get(f"ADJ_REQUEST#{request_id}", "REQUEST")
        return None if item is None else _load(AdjustmentRequest, item)

    def requests(
        self, status: str, limit: int, cursor: str | None
    ) -> tuple[list[AdjustmentRequest], str | None]:
        page = self.store.query(f"ADJ_REQUESTS#{status}", index="gsi1", limit=limit, cursor=cursor)
        return [_load(AdjustmentRequest, i) for i in page.items], page.next_cursor

    @staticmethod
    def request_op(request: AdjustmentRequest) -> Put:
        item = {
            "pk": f"ADJ_REQUEST#{request.id}",
            "sk": "REQUEST",
            "gsi1pk": f"ADJ_REQUESTS#{request.status}",
            "gsi1sk": f"{_stamp(request.requested_at)}#{request.id}",
            **_data(request),
        }
        return _versioned(item, request.version)


class RemittanceRepository:
    def __init__(self, store: PracticeStore) -> None:
        self.store = store

    def create_ops(self, record: dict[str, Any], dedupe_key: str | None) -> list[Put]:
        ops = [
            Put(
                {
                    "pk": f"REMIT#{record['id']}",
                    "sk": "REMIT",
                    "gsi1pk": "REMITS",
                    "gsi1sk": f"{record['received_at']}#{record['id']}",
                    **record,
                },
                Absent(),
            )
        ]
        if dedupe_key:
            ops.append(
                Put(
                    {"pk": f"REMIT_KEY#{dedupe_key}", "sk": "REMIT", "remit_id": record["id"]},
                    Absent(),
                )
            )
        return ops

    def seen(self, dedupe_key: str) -> str | None:
        item = self.store.get(f"REMIT_KEY#{dedupe_key}", "REMIT")
        return None if item is None else str(item["remit_id"])

    def get(self, remit_id: str) -> dict[str, Any] | None:
        item = self.store.get(f"REMIT#{remit_id}", "REMIT")
        return None if item is None else {k: v for k, v in item.items() if k not in _LAYOUT}

    def recent(self, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        page = self.store.query("REMITS", index="gsi1", limit=limit, cursor=cursor, descending=True)
        items = [{k: v for k, v in i.items() if k not in _LAYOUT} for i in page.items]
        return items, page.next_cursor

    @staticmethod
    def exception_op(exc: dict[str, Any], condition_version: int | None = None) -> Put:
        item = {
            "pk": f"BILLING_EXCEPTION#{exc['id']}",
            "sk": "EXCEPTION",
            "gsi1pk": f"BILLING_EXCEPTIONS#{exc['status']}",
            "gsi1sk": f"{exc['at']}#{exc['id']}",
            **exc,
        }
        return Put(item, Absent() if condition_version is None else VersionIs(condition_version))

    def exception(self, exception_id: str) -> dict[str, Any] | None:
        item = self.store.get(f"BILLING_EXCEPTION#{exception_id}", "EXCEPTION")
        return None if item is None else {k: v for k, v in item.items() if k not in _LAYOUT}

    def exceptions(
        self, status: str, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        page = self.store.query(
            f"BILLING_EXCEPTIONS#{status}", index="gsi1", limit=limit, cursor=cursor
        )
        items = [{k: v for k, v in i.items() if k not in _LAYOUT} for i in page.items]
        return items, page.next_cursor

"""Billing set-up: the practice's billing settings, payers (with telehealth rules),
billing identities and fee schedules, and a self-pay patient's sliding scale. Owners,
admins and billers manage them; nothing here is PHI except the sliding scale (it names a
patient), which is audited with the patient."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from tpm.adapters.store.base import ConditionFailed, Put
from tpm.domain.billing.setup import (
    BillingIdentity,
    BillingSettings,
    FeeSchedule,
    Payer,
    SlidingScale,
)
from tpm.errors import NotFound, ValidationFailed, VersionConflict
from tpm.ids import new_id
from tpm.repositories.billing import BillingSetupRepository
from tpm.repositories.patients import PatientRepository
from tpm.services.context import ServiceContext

READ = "billing.setup.read"
MANAGE = "billing.setup.manage"
M = TypeVar("M", bound=BaseModel)


def invalid(exc: ValidationError, prefix: str = "body") -> ValidationFailed:
    """Field paths and error types only: never the submitted values."""
    fields = []
    for e in exc.errors():
        path = ".".join(str(p) for p in e["loc"])
        fields.append({"path": f"{prefix}.{path}" if path else prefix, "type": e["type"]})
    return ValidationFailed(fields=fields)


def build(cls: type[M], data: dict[str, Any]) -> M:
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise invalid(exc) from None


class BillingSetupService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.repo = BillingSetupRepository(ctx.store)

    def _save(
        self, access: Any, op: Put, kind: str, record_id: str, patient_id: str | None = None
    ) -> None:
        try:
            self.ctx.write(access, lambda: [op], kind, record_id, patient_id=patient_id)
        except ConditionFailed as exc:
            raise VersionConflict(current_version=exc.current_version) from exc

    # ---- settings -------------------------------------------------------------------------

    def settings(self) -> BillingSettings:
        access = self.ctx.authorize(READ, resource_kind="billing_settings")
        settings = self.repo.settings()
        self.ctx.record(access, "billing_settings")
        return settings

    def update_settings(self, version: int, changes: dict[str, Any]) -> BillingSettings:
        access = self.ctx.authorize(MANAGE, resource_kind="billing_settings")
        current = self.repo.settings()
        if current.version != version:
            raise VersionConflict(current_version=current.version)
        identity_id = changes.get("billing_identity_id")
        if identity_id is not None:
            identity = self.repo.identity(identity_id)
            if identity is None or identity.address is None or identity.ein is None:
                raise ValidationFailed(
                    fields=[{"path": "body.billing_identity_id", "type": "unusable_identity"}]
                )
        changed = build(BillingSettings, current.model_dump() | changes | {"version": version + 1})
        self._save(access, self.repo.settings_op(changed), "billing_settings", "settings")
        return changed

    # ---- payers ---------------------------------------------------------------------------

    def payers(self) -> list[Payer]:
        access = self.ctx.authorize(READ, resource_kind="payer")
        found = self.repo.payers()
        self.ctx.record(access, "payer", reason_code=f"count_{len(found)}")
        return found

    def create_payer(self, fields: dict[str, Any]) -> Payer:
        access = self.ctx.authorize(MANAGE, resource_kind="payer")
        if any(p.payer_id == fields.get("payer_id") for p in self.repo.payers()):
            raise ValidationFailed(fields=[{"path": "body.payer_id", "type": "duplicate_payer_id"}])
        payer = build(Payer, {"id": new_id("pyr"), **fields})
        self._save(access, self.repo.payer_op(payer), "payer", payer.id)
        return payer

    def update_payer(self, payer_ref: str, version: int, changes: dict[str, Any]) -> Payer:
        access = self.ctx.authorize(MANAGE, resource_kind="payer", resource_id=payer_ref)
        current = self.repo.payer(payer_ref)
        if current is None:
            raise NotFound()
        if current.version != version:
            raise VersionConflict(current_version=current.version)
        changed = build(Payer, current.model_dump() | changes | {"version": version + 1})
        self._save(access, self.repo.payer_op(changed), "payer", payer_ref)
        return changed

    # ---- identities -------------------------------------------------------------------------

    def identities(self) -> list[BillingIdentity]:
        access = self.ctx.authorize(READ, resource_kind="billing_identity")
        found = self.repo.identities()
        self.ctx.record(access, "billing_identity", reason_code=f"count_{len(found)}")
        return found

    def create_identity(self, fields: dict[str, Any]) -> BillingIdentity:
        access = self.ctx.authorize(MANAGE, resource_kind="billing_identity")
        identity = build(BillingIdentity, {"id": new_id("bid"), **fields})
        if identity.user_id is not None and self.ctx.users.get(identity.user_id) is None:
            raise ValidationFailed(fields=[{"path": "body.user_id", "type": "unknown_user"}])
        existing = self.repo.identities()
        if any(i.npi == identity.npi for i in existing):
            raise ValidationFailed(fields=[{"path": "body.npi", "type": "duplicate_npi"}])
        self._save(access, self.repo.identity_op(identity), "billing_identity", identity.id)
        return identity

    # ---- fee schedules ------------------------------------------------------------------------

    def fee_schedules(self) -> list[FeeSchedule]:
        access = self.ctx.authorize(READ, resource_kind="fee_schedule")
        found = self.repo.fee_schedules()
        self.ctx.record(access, "fee_schedule", reason_code=f"count_{len(found)}")
        return found

    def create_fee_schedule(self, fields: dict[str, Any]) -> FeeSchedule:
        access = self.ctx.authorize(MANAGE, resource_kind="fee_schedule")
        schedule = build(FeeSchedule, {"id": new_id("fee"), **fields})
        if schedule.payer_id is not None and self.repo.payer(schedule.payer_id) is None:
            raise ValidationFailed(fields=[{"path": "body.payer_id", "type": "unknown_payer"}])
        if any(s.payer_id == schedule.payer_id for s in self.repo.fee_schedules()):
            raise ValidationFailed(
                fields=[{"path": "body.payer_id", "type": "fee_schedule_exists"}]
            )
        self._save(access, self.repo.fee_schedule_op(schedule), "fee_schedule", schedule.id)
        return schedule

    # ---- sliding scale ------------------------------------------------------------------------

    def set_sliding_scale(self, patient_id: str, fields: dict[str, Any]) -> SlidingScale:
        access = self.ctx.authorize(
            "billing.sliding_scale.manage",
            resource_kind="sliding_scale",
            resource_id=patient_id,
            patient_id=patient_id,
        )
        if PatientRepository(self.ctx.store, self.ctx.runtime.cipher).get(patient_id) is None:
            raise NotFound()
        current = self.repo.sliding_scale(patient_id)
        version = (current.version + 1) if current else 1
        scale = build(SlidingScale, {**fields, "patient_id": patient_id, "version": version})
        self._save(
            access, self.repo.sliding_scale_op(scale), "sliding_scale", patient_id, patient_id
        )
        return scale

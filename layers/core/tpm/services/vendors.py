"""The business associate / vendor register: the compliance officer keeps it, adapters ask
it (tpm.services.agreements), and a daily job warns before agreements run out.

Authorisation: `vendor.read` (owner, admin, compliance) and `vendor.manage` (owner,
compliance). Every read and change is audited (`vendor.read`, `vendor.manage` with
reason `created`, `updated`, `document_added`); the register changes only through here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

from tpm.adapters.store.base import ConditionFailed
from tpm.domain.documents import DocumentRuleError, DocumentTooLarge, check_content
from tpm.domain.vendors import (
    Agreement,
    DueDiligenceDocument,
    Vendor,
    VendorRole,
    days_left,
    warning_due,
)
from tpm.errors import AlreadyExists, NotFound, PayloadTooLarge, ValidationFailed, VersionConflict
from tpm.ids import is_id, new_id
from tpm.repositories.vendors import VendorRepository
from tpm.services.context import ServiceContext

KIND = "vendor"


@dataclass(frozen=True)
class VendorFields:
    """What a compliance officer sets on a vendor (the key is fixed at creation)."""

    name: str
    role: VendorRole
    receives_phi: bool
    services: tuple[str, ...]
    contact: str
    notes: str
    agreement: Agreement


@dataclass(frozen=True)
class VendorRead:
    vendor: Vendor
    documents: list[DueDiligenceDocument]
    days_left: int | None
    warning: int | None


class VendorService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.vendors = VendorRepository(ctx.store, ctx.runtime.cipher)

    def list(self, limit: int, cursor: str | None) -> tuple[list[VendorRead], str | None]:
        ctx = self.ctx
        access = ctx.authorize("vendor.read", resource_kind=KIND)
        vendors, next_cursor = self.vendors.page(limit, cursor)
        ctx.record(access, KIND, reason_code=f"count_{len(vendors)}")
        today = self._today()
        return [self._read(v, today, documents=False) for v in vendors], next_cursor

    def get(self, vendor_id: str) -> VendorRead:
        ctx = self.ctx
        access = ctx.authorize("vendor.read", resource_kind=KIND, resource_id=vendor_id)
        vendor = self._load(vendor_id)
        ctx.record(access, KIND, vendor.id)
        return self._read(vendor, self._today(), documents=True)

    def create(self, key: str, fields: VendorFields) -> Vendor:
        ctx = self.ctx
        access = ctx.authorize("vendor.manage", resource_kind=KIND)
        now = ctx.now()
        vendor = Vendor(
            id=new_id("vnd"),
            key=key,
            created_at=now,
            updated_at=now,
            updated_by=ctx.principal.user_id,
            **fields.__dict__,
        )
        ops = self.vendors.create_ops(vendor)
        try:
            ctx.write(access, lambda: list(ops), KIND, vendor.id, reason_code="created")
        except ConditionFailed as exc:
            raise AlreadyExists("A vendor with this key is already in the register.") from exc
        return vendor

    def update(self, vendor_id: str, version: int, changes: dict[str, object]) -> Vendor:
        ctx = self.ctx
        access = ctx.authorize("vendor.manage", resource_kind=KIND, resource_id=vendor_id)
        vendor = self._load(vendor_id)
        if vendor.version != version:
            raise VersionConflict(current_version=vendor.version)
        changed = Vendor.model_validate(
            vendor.model_dump()
            | changes
            | {
                "version": vendor.version + 1,
                "updated_at": ctx.now(),
                "updated_by": ctx.principal.user_id,
            }
        )
        op = self.vendors.update_op(changed)
        try:
            ctx.write(access, lambda: [op], KIND, vendor.id, reason_code="updated")
        except ConditionFailed as exc:
            current = self.vendors.get(vendor.id)
            raise VersionConflict(
                current_version=current.version if current else exc.current_version
            ) from exc
        return changed

    def add_document(
        self, vendor_id: str, title: str, filename: str, content_type: str, content: bytes
    ) -> DueDiligenceDocument:
        """Keeps a due-diligence file (sealed in the file store; metadata sealed too)."""
        ctx = self.ctx
        access = ctx.authorize("vendor.manage", resource_kind=KIND, resource_id=vendor_id)
        vendor = self._load(vendor_id)
        try:
            check_content(content_type, content)  # the documents' rules: type, size, bytes
        except DocumentTooLarge as exc:
            raise PayloadTooLarge(limit_bytes=exc.limit_bytes) from exc
        except DocumentRuleError as exc:
            raise ValidationFailed(
                fields=[{"path": f"body.{p}", "type": t} for p, t in exc.fields]
            ) from exc
        document = DueDiligenceDocument(
            id=new_id("vdd"),
            vendor_id=vendor.id,
            title=title,
            filename=filename,
            content_type=content_type,
            size_bytes=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            uploaded_by=ctx.principal.user_id,
            uploaded_at=ctx.now(),
        )
        # Contract material, not PHI: it may go wherever the practice's files live.
        ctx.runtime.files.put(ctx.practice_id, document.id, content, guard=ctx.outbound)
        op = self.vendors.document_op(document)
        ctx.write(access, lambda: [op], KIND, vendor.id, reason_code="document_added")
        return document

    def document_content(
        self, vendor_id: str, document_id: str
    ) -> tuple[DueDiligenceDocument, bytes]:
        ctx = self.ctx
        access = ctx.authorize("vendor.read", resource_kind=KIND, resource_id=vendor_id)
        vendor = self._load(vendor_id)
        document = (
            self.vendors.document(vendor.id, document_id) if is_id(document_id, "vdd") else None
        )
        if document is None:
            raise NotFound()
        data = ctx.runtime.files.get(ctx.practice_id, document.id)
        ctx.record(access, KIND, vendor.id, reason_code="document_read")
        return document, data

    # ---- helpers --------------------------------------------------------------------------

    def _load(self, vendor_id: str) -> Vendor:
        vendor = self.vendors.get(vendor_id) if is_id(vendor_id, "vnd") else None
        if vendor is None:
            raise NotFound()
        return vendor

    def _today(self) -> date:
        return self.ctx.outbound.today

    def _read(self, vendor: Vendor, today: date, *, documents: bool) -> VendorRead:
        docs = self.vendors.documents(vendor.id) if documents else []
        return VendorRead(vendor, docs, days_left(vendor, today), warning_due(vendor, today))

"""Documents: staff upload a file for a patient and choose whether the patient sees it in
the portal; patients list and download what was shared with them. Every read of the
metadata or the bytes is in the audit trail with the patient it concerns."""

from __future__ import annotations

from dataclasses import dataclass

from tpm.adapters.store.base import ConditionFailed
from tpm.domain.documents import (
    ContentType,
    Document,
    DocumentRuleError,
    DocumentTooLarge,
    check_content,
    set_shared,
    visible_to_patient,
)
from tpm.errors import NotFound, PayloadTooLarge, ValidationFailed, VersionConflict
from tpm.ids import new_id
from tpm.repositories.documents import DocumentRepository
from tpm.repositories.patients import PatientRepository
from tpm.security.audit_chain import Outcome
from tpm.security.policy import Access, Scope
from tpm.services.context import ServiceContext
from tpm.services.rate_limits import enforce

# Abuse limits (tpm.services.rate_limits): uploads per user per hour (storage is not free).
UPLOAD_LIMIT, UPLOAD_WINDOW = 120, 3600
KIND = "document"


@dataclass(frozen=True)
class NewDocument:
    title: str
    filename: str
    content_type: ContentType
    content: bytes
    shared_with_patient: bool = False


@dataclass(frozen=True)
class DocumentContent:
    document: Document
    data: bytes


def rule_error(exc: DocumentRuleError) -> ValidationFailed:
    return ValidationFailed(fields=[{"path": f"body.{p}", "type": t} for p, t in exc.fields])


class DocumentService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.documents = DocumentRepository(ctx.store, ctx.runtime.cipher)

    # ---- staff: upload, list, share ------------------------------------------------------

    def upload(self, patient_id: str, new: NewDocument) -> Document:
        """The sealed bytes go to the file store first, then the metadata and its audit
        event in one transaction: a listed document always has its file. (A failed
        transaction leaves an unreferenced sealed file, never a dangling record.)"""
        ctx = self.ctx
        access = ctx.authorize(
            "document.upload", resource_kind=KIND, resource_id=patient_id, patient_id=patient_id
        )
        if new.shared_with_patient:
            # Sharing on upload is sharing: a role that may file but not share (front
            # desk) cannot publish to the portal this way.
            ctx.authorize(
                "document.share", resource_kind=KIND, resource_id=patient_id, patient_id=patient_id
            )
        self._require_patient(patient_id)
        try:
            check_content(new.content_type, new.content)
        except DocumentTooLarge as exc:
            raise PayloadTooLarge(limit_bytes=exc.limit_bytes) from exc
        except DocumentRuleError as exc:
            raise rule_error(exc) from exc
        enforce(
            ctx.store,
            ctx.runtime.clock,
            "document-upload",
            ctx.principal.user_id,
            UPLOAD_LIMIT,
            UPLOAD_WINDOW,
        )
        now = ctx.now()
        document = Document(
            id=new_id("doc"),
            patient_id=patient_id,
            title=new.title,
            filename=new.filename,
            content_type=new.content_type,
            size_bytes=len(new.content),
            shared_with_patient=new.shared_with_patient,
            shared_at=now if new.shared_with_patient else None,
            shared_by=ctx.principal.user_id if new.shared_with_patient else None,
            uploaded_by=ctx.principal.user_id,
            created_at=now,
            updated_at=now,
        )
        ctx.runtime.files.put(ctx.practice_id, document.id, new.content, guard=ctx.outbound)
        ctx.write(
            access,
            lambda: [self.documents.create_op(document)],
            KIND,
            document.id,
            patient_id=patient_id,
            reason_code="shared" if document.shared_with_patient else None,
        )
        return document

    def list_for_patient(
        self, patient_id: str, limit: int, cursor: str | None
    ) -> tuple[list[Document], str | None]:
        """Staff see every document of a patient they may reach; a patient asking for
        their own record sees only what was shared with them."""
        ctx = self.ctx
        access = ctx.authorize(
            "document.list", resource_kind=KIND, resource_id=patient_id, patient_id=patient_id
        )
        self._require_patient(patient_id)
        documents, next_cursor = self.documents.for_patient(
            patient_id, shared_only=access.scope is Scope.SELF, limit=limit, cursor=cursor
        )
        # One event for the page (with how many documents it showed), not one per row.
        ctx.record(access, KIND, patient_id=patient_id, reason_code=f"count_{len(documents)}")
        return documents, next_cursor

    def list_mine(self, limit: int, cursor: str | None) -> tuple[list[Document], str | None]:
        """The portal's list: the signed-in patient's shared documents (404 for staff,
        who have no record of their own)."""
        patient_id = self.ctx.principal.patient_id
        if patient_id is None:
            raise NotFound()
        return self.list_for_patient(patient_id, limit, cursor)

    def share(self, document_id: str, version: int, shared: bool) -> Document:
        ctx = self.ctx
        access, document = self._load("document.share", document_id)
        if document.version != version:
            raise VersionConflict(current_version=document.version)
        changed = set_shared(document, shared, ctx.principal.user_id, ctx.now())
        try:
            ctx.write(
                access,
                lambda: [self.documents.update_op(changed)],
                KIND,
                document_id,
                patient_id=document.patient_id,
                reason_code="shared" if shared else "unshared",
            )
        except ConditionFailed as exc:
            raise VersionConflict(current_version=exc.current_version) from exc
        return changed

    # ---- reads (staff and patients) --------------------------------------------------------

    def get(self, document_id: str) -> Document:
        access, document = self._load("document.read", document_id)
        self.ctx.record(access, KIND, document_id, patient_id=document.patient_id)
        return document

    def content(self, document_id: str) -> DocumentContent:
        access, document = self._load("document.content.read", document_id)
        data = self.ctx.runtime.files.get(self.ctx.practice_id, document.id)
        self.ctx.record(access, KIND, document_id, patient_id=document.patient_id)
        return DocumentContent(document, data)

    # ---- helpers -------------------------------------------------------------------------

    def _load(self, action: str, document_id: str) -> tuple[Access, Document]:
        """Role check first (403), then the record (404), then the relationship to its
        patient (404); a patient is answered 404 for a document not shared with them."""
        ctx = self.ctx
        ctx.authorize_list(action, resource_kind=KIND)
        document = self.documents.get(document_id)
        if document is None:
            raise NotFound()
        access = ctx.authorize(
            action, resource_kind=KIND, resource_id=document_id, patient_id=document.patient_id
        )
        if access.scope is Scope.SELF and not visible_to_patient(document):
            ctx.runtime.audit.record(
                ctx.store,
                ctx.event(
                    action,
                    KIND,
                    document_id,
                    patient_id=document.patient_id,
                    outcome=Outcome.DENIED,
                    reason_code="not_shared",
                ),
            )
            raise NotFound()
        return access, document

    def _require_patient(self, patient_id: str) -> None:
        if PatientRepository(self.ctx.store, self.ctx.runtime.cipher).get(patient_id) is None:
            raise NotFound()

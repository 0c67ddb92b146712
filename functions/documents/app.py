"""Documents: staff file documents for a patient and share them; patients download what
was shared with them in the portal.

The bytes travel base64-encoded inside JSON, both ways. Through API Gateway (REST) and a
Lambda proxy integration that is the simplest correct choice: binary bodies would need
binaryMediaTypes on the whole API, and JSON keeps one error shape, one content-type
check and one audit path for every route. The cost is a third more bytes on the wire,
which the 4 MiB document limit (tpm.domain.documents) keeps under Lambda's 6 MB payload.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel, Field

from tpm.api.app import create_app, lambda_entry
from tpm.api.context import Cursor, Limit, service_context
from tpm.api.idempotency import idempotent
from tpm.api.models import RequestModel
from tpm.api.responses import created, created_doc
from tpm.api.views import Page
from tpm.domain.documents import FILENAME, MAX_DOCUMENT_BYTES, ContentType, Document
from tpm.errors import PayloadTooLarge, ValidationFailed
from tpm.services.documents import DocumentService, NewDocument

app = create_app("documents")
TAGS = ["documents"]
# Base64 of the largest document, plus room for line breaks some encoders add.
MAX_BASE64_CHARS = (MAX_DOCUMENT_BYTES + 2) // 3 * 4 + 4096


class DocumentIn(RequestModel):
    title: str = Field(min_length=1, max_length=200)
    filename: str = Field(max_length=200, pattern=FILENAME)
    content_type: ContentType
    content_base64: str = Field(
        min_length=4,
        description=f"The file, base64-encoded (at most {MAX_DOCUMENT_BYTES} bytes decoded).",
    )
    shared_with_patient: bool = False


class DocumentVersionIn(RequestModel):
    version: int = Field(ge=1, description="The version you loaded (409 if it changed).")


class DocumentView(BaseModel):
    id: str
    patient_id: str
    title: str
    filename: str
    content_type: str
    size_bytes: int
    shared_with_patient: bool
    shared_at: datetime | None
    uploaded_by: str
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, d: Document) -> DocumentView:
        return cls.model_validate(d.model_dump(include=set(cls.model_fields)))


class DocumentContentOut(BaseModel):
    filename: str
    content_type: str
    size_bytes: int
    content_base64: str


def decode_content(text: str) -> bytes:
    if len(text) > MAX_BASE64_CHARS:
        raise PayloadTooLarge(limit_bytes=MAX_DOCUMENT_BYTES)
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationFailed(fields=[{"path": "body.content_base64", "type": "base64"}]) from exc


@app.post(
    "/v1/patients/<patientId>/documents",
    summary="Upload a document for a patient",
    tags=TAGS,
    responses=created_doc(DocumentView),
    middlewares=[idempotent],
)
def upload_document(patientId: str, body: DocumentIn) -> Response[str]:  # noqa: N803
    service = DocumentService(service_context(app))
    document = service.upload(
        patientId,
        NewDocument(
            title=body.title,
            filename=body.filename,
            content_type=body.content_type,
            content=decode_content(body.content_base64),
            shared_with_patient=body.shared_with_patient,
        ),
    )
    return created(DocumentView.of(document), f"/v1/documents/{document.id}")


@app.get(
    "/v1/patients/<patientId>/documents",
    summary="A patient's documents (metadata only; patients see the shared ones)",
    tags=TAGS,
)
def list_documents(
    patientId: str,  # noqa: N803
    limit: Limit = 25,
    cursor: Cursor = None,
) -> Page[DocumentView]:
    documents, next_cursor = DocumentService(service_context(app)).list_for_patient(
        patientId, limit, cursor
    )
    return Page[DocumentView](
        items=[DocumentView.of(d) for d in documents], next_cursor=next_cursor
    )


@app.get("/v1/me/documents", summary="Documents the practice shared with me (patients)", tags=TAGS)
def my_documents(limit: Limit = 25, cursor: Cursor = None) -> Page[DocumentView]:
    documents, next_cursor = DocumentService(service_context(app)).list_mine(limit, cursor)
    return Page[DocumentView](
        items=[DocumentView.of(d) for d in documents], next_cursor=next_cursor
    )


@app.get("/v1/documents/<documentId>", summary="A document's metadata", tags=TAGS)
def get_document(documentId: str) -> DocumentView:  # noqa: N803
    return DocumentView.of(DocumentService(service_context(app)).get(documentId))


@app.get(
    "/v1/documents/<documentId>/content",
    summary="A document's bytes, base64-encoded in JSON",
    tags=TAGS,
)
def document_content(documentId: str) -> DocumentContentOut:  # noqa: N803
    found = DocumentService(service_context(app)).content(documentId)
    return DocumentContentOut(
        filename=found.document.filename,
        content_type=found.document.content_type,
        size_bytes=found.document.size_bytes,
        content_base64=base64.b64encode(found.data).decode("ascii"),
    )


@app.post(
    "/v1/documents/<documentId>/share", summary="Share a document with its patient", tags=TAGS
)
def share_document(documentId: str, body: DocumentVersionIn) -> DocumentView:  # noqa: N803
    service = DocumentService(service_context(app))
    return DocumentView.of(service.share(documentId, body.version, shared=True))


@app.post(
    "/v1/documents/<documentId>/unshare",
    summary="Stop sharing a document with its patient",
    tags=TAGS,
)
def unshare_document(documentId: str, body: DocumentVersionIn) -> DocumentView:  # noqa: N803
    service = DocumentService(service_context(app))
    return DocumentView.of(service.share(documentId, body.version, shared=False))


# 4 MiB of file is about 5.6 MB of base64 JSON, under Lambda's 6 MB request limit.
lambda_handler = lambda_entry(app, "documents", max_body_bytes=5_700_000)

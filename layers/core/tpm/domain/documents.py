"""Documents: files the practice keeps for a patient and may share with them in the portal.

Pure models and rules (no I/O): which file types are accepted and whether the bytes are
what they claim to be, the size limit, and sharing. Title and file name are PHI (a title
such as "Discharge summary" says something about care): the repository seals them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# What patients can open safely in a browser; nothing executable or scriptable (no HTML,
# SVG or Office macros).
ContentType = Literal["application/pdf", "image/png", "image/jpeg", "text/plain"]
CONTENT_TYPES: tuple[str, ...] = ("application/pdf", "image/png", "image/jpeg", "text/plain")

# 4 MiB: the bytes travel base64-encoded in JSON (x4/3) through API Gateway and Lambda,
# whose synchronous request and response payloads stop at 6 MB; 4 MiB encodes to 5.6 MB.
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024

# A file name is shown and offered as the download name: no path parts, no control chars.
FILENAME = r"^[^/\\\x00-\x1f\x7f]{1,200}$"

# The bytes a file of each type starts with (a PNG labelled as PDF is refused).
_SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
}

# Sealed one by one in the stored item.
PHI_FIELDS = ("title", "filename")


class Document(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^doc_[0-9a-z]{26}$")
    patient_id: str
    title: str = Field(min_length=1, max_length=200)
    filename: str = Field(pattern=FILENAME)
    content_type: ContentType
    size_bytes: int = Field(ge=1, le=MAX_DOCUMENT_BYTES)
    shared_with_patient: bool = False
    shared_at: datetime | None = None
    shared_by: str | None = None
    uploaded_by: str
    created_at: datetime
    updated_at: datetime
    version: int = Field(default=1, ge=1)


class DocumentTooLarge(ValueError):
    def __init__(self) -> None:
        super().__init__("document too large")
        self.limit_bytes = MAX_DOCUMENT_BYTES


class DocumentRuleError(ValueError):
    """A file the rules refuse; `fields` holds (path, machine-readable type) pairs."""

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        super().__init__(", ".join(f"{p}: {t}" for p, t in fields))
        self.fields = fields


def check_content(content_type: str, data: bytes) -> None:
    """The file is within the size limit and is what its content type says it is, so a
    browser that opens it never has to guess (and never runs it as something else)."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise DocumentTooLarge()
    if not data:
        raise DocumentRuleError([("content_base64", "empty")])
    if content_type not in CONTENT_TYPES:
        raise DocumentRuleError([("content_type", "not_allowed")])
    if content_type == "text/plain":
        if b"\x00" in data:
            raise DocumentRuleError([("content_base64", "content_mismatch")])
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DocumentRuleError([("content_base64", "content_mismatch")]) from exc
        return
    if not data.startswith(_SIGNATURES[content_type]):
        raise DocumentRuleError([("content_base64", "content_mismatch")])


def set_shared(document: Document, shared: bool, by: str, now: datetime) -> Document:
    """Shares with (or withdraws from) the patient; the next version of the record."""
    return document.model_copy(
        update={
            "shared_with_patient": shared,
            "shared_at": now if shared else None,
            "shared_by": by if shared else None,
            "updated_at": now,
            "version": document.version + 1,
        }
    )


def visible_to_patient(document: Document) -> bool:
    """Patients see only what the practice chose to share with them."""
    return document.shared_with_patient

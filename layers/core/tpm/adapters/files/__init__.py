"""Document files behind one port, chosen by TPM_FILES (see tpm.config):

  local:///abs/path/files                    a folder (tpm dev): <dir>/<practice>/<file id>
  s3://<bucket>?kms_key=<PHI key ARN>        S3 with SSE-KMS: object <practice>/<file id>

Whichever backend holds them, file bytes are sealed first with the same envelope as PHI
fields (tpm.security.envelope; AAD = practice, kind "document", file id, field "content"),
so a file copied to another key, practice or bucket fails to open, and S3's own SSE-KMS is
a second layer rather than the only one. Files are write-once: a document's bytes never
change (a new version is a new document).

Putting a file sends it out of the practice's hands when the blobs live with a vendor (S3:
vendor `aws`), so `put` asks the business associate register first (tpm.adapters.outbound);
the local folder has no vendor and does not ask.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from tpm.adapters.outbound import OutboundGuard
from tpm.errors import IntegrityError
from tpm.security.envelope import FieldCipher

FILE_KIND = "document"
CONTENT_FIELD = "content"
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # ids only: never a path, never PHI


class FileStore(Protocol):
    def put(self, practice_id: str, file_id: str, data: bytes, *, guard: OutboundGuard) -> None:
        """Stores the bytes once (AlreadyExists if the id is taken), after asking `guard`
        when the bytes would go to a vendor (AgreementRequired: nothing was stored)."""
        ...

    def get(self, practice_id: str, file_id: str) -> bytes:
        """The bytes as stored (NotFound if there are none)."""
        ...

    # The whole-practice export and restore (tpm.services.practice_archive) move files as
    # they are stored, sealed: the practice's data keys travel with them.

    def file_ids(self, practice_id: str) -> list[str]:
        """Every file id the practice holds, sorted."""
        ...

    def read_sealed(self, practice_id: str, file_id: str) -> bytes: ...

    def write_sealed(self, practice_id: str, file_id: str, sealed: bytes) -> None:
        """Restores sealed bytes once (AlreadyExists if the id is taken)."""
        ...


class BlobStore(Protocol):
    """Raw, write-once storage of already-sealed bytes under '<practice>/<file id>'."""

    vendor: str | None  # who holds the bytes (None: this machine)

    def write(self, key: str, body: bytes) -> None: ...

    def read(self, key: str) -> bytes: ...

    def names(self, practice_id: str) -> list[str]:
        """The file ids stored under '<practice>/', sorted."""
        ...


def blob_key(practice_id: str, file_id: str) -> str:
    for part in (practice_id, file_id):
        if not _NAME.match(part):
            raise ValueError("practice and file ids must be plain identifiers")
    return f"{practice_id}/{file_id}"


@dataclass(frozen=True)
class SealedFiles:
    """The one code path for every backend: seal, then hand the ciphertext to the blobs."""

    cipher: FieldCipher
    blobs: BlobStore

    def put(self, practice_id: str, file_id: str, data: bytes, *, guard: OutboundGuard) -> None:
        key = blob_key(practice_id, file_id)
        if self.blobs.vendor is not None:
            # Sealed or not, the file is practice data held by the vendor from now on.
            guard.require(self.blobs.vendor, carries_phi=True)
        sealed = self.cipher.encrypt_bytes(practice_id, FILE_KIND, file_id, CONTENT_FIELD, data)
        self.blobs.write(key, sealed.encode("ascii"))

    def get(self, practice_id: str, file_id: str) -> bytes:
        raw = self.blobs.read(blob_key(practice_id, file_id))
        try:
            sealed = raw.decode("ascii")
        except UnicodeDecodeError as exc:
            raise IntegrityError("A stored file has an unknown format.") from exc
        return self.cipher.decrypt_bytes(practice_id, FILE_KIND, file_id, CONTENT_FIELD, sealed)

    def file_ids(self, practice_id: str) -> list[str]:
        blob_key(practice_id, "probe")  # the practice id must be a plain identifier
        return [name for name in self.blobs.names(practice_id) if _NAME.match(name)]

    def read_sealed(self, practice_id: str, file_id: str) -> bytes:
        return self.blobs.read(blob_key(practice_id, file_id))

    def write_sealed(self, practice_id: str, file_id: str, sealed: bytes) -> None:
        self.blobs.write(blob_key(practice_id, file_id), sealed)


def open_files(url: str, cipher: FieldCipher, *, region: str | None = None) -> FileStore:
    parts = urlsplit(url)
    if url.startswith("local:///"):
        from tpm.adapters.files.local import LocalBlobs

        return SealedFiles(cipher, LocalBlobs(url.removeprefix("local://")))
    if parts.scheme == "s3" and parts.netloc:
        from tpm.adapters.files.s3 import S3Blobs

        kms_key = (parse_qs(parts.query).get("kms_key") or [""])[0]
        if not kms_key:
            raise ValueError("TPM_FILES s3:// needs ?kms_key=<the PHI key ARN>")
        return SealedFiles(cipher, S3Blobs(parts.netloc, kms_key_id=kms_key, region=region))
    raise ValueError("TPM_FILES must be local:///path or s3://bucket?kms_key=arn")

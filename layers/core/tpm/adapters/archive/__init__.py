"""The write-once archive: where exported audit-trail segments are kept for investigators.

It lives where the sealed checkpoints do, so it is chosen by the same TPM_AUDIT URL:

  local:///dir          <dir>/archive/<key>: files written once (hard link), mode 0400, in
                        0700 folders (a laptop cannot promise retention; back it up)
  aws://<bucket>?…      s3://<bucket>/audit-exports/<key>: SSE-KMS with the PHI key, Object
                        Lock in COMPLIANCE mode until `retain_until` (nobody, not even the
                        account root, can delete or shorten it), written once (If-None-Match)

Putting an object hands practice data to the archive's holder: the S3 archive asks the
business associate register first (vendor `aws`); the local folder asks nobody.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Protocol
from urllib.parse import parse_qs, urlparse

from tpm.adapters.outbound import OutboundGuard

_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,80}(/[A-Za-z0-9_.-]{1,80}){0,4}$")


class Archive(Protocol):
    vendor: str | None

    def put(self, key: str, body: bytes, *, retain_until: datetime, guard: OutboundGuard) -> bool:
        """Writes the object once, kept at least until `retain_until`; False when an object
        already has this key (nothing is replaced)."""
        ...

    def get(self, key: str) -> bytes:
        """The object's bytes (NotFound if absent)."""
        ...

    def keys(self, prefix: str) -> list[str]:
        """Every key under `prefix`, sorted."""
        ...


def check_key(key: str) -> str:
    if not _KEY.match(key) or ".." in key:
        raise ValueError("archive keys are plain relative paths of ids")
    return key


def open_archive(audit_url: str, *, region: str | None = None) -> Archive:
    if audit_url.startswith("local:///"):
        from tpm.adapters.archive.local import LocalArchive

        return LocalArchive(f"{audit_url.removeprefix('local://')}/archive")
    if audit_url.startswith("aws://"):
        from tpm.adapters.archive.s3 import S3Archive

        parsed = urlparse(audit_url)
        query = parse_qs(parsed.query)
        return S3Archive(
            parsed.netloc,
            prefix="audit-exports",
            kms_key_id=query.get("kms_key", [None])[0],
            region=region,
        )
    raise ValueError("unsupported audit url")

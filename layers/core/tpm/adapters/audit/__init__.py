"""Where the audit trail's checkpoint signing key and sealed checkpoint copies live.

TPM_AUDIT=local:///dir           key file + JSON Lines sink in a folder (tpm dev)
TPM_AUDIT=aws://<bucket>[?prefix=audit-checkpoints&kms_key=<arn>]
                                 signing key in the table, wrapped by the PHI master key
                                 (KMS); checkpoints sealed as Object-Lock S3 objects
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from tpm.adapters.keys.base import MasterKey
from tpm.adapters.store.base import Store
from tpm.security.audit_checkpoints import (
    CheckpointSigner,
    CheckpointSink,
    LocalCheckpointSigner,
    LocalCheckpointSink,
)


def open_audit(
    url: str, store: Store, master: MasterKey
) -> tuple[CheckpointSigner, CheckpointSink]:
    if url.startswith("local:///"):
        directory = url.removeprefix("local://")
        return LocalCheckpointSigner(f"{directory}/signing"), LocalCheckpointSink(
            f"{directory}/checkpoints"
        )
    if url.startswith("aws://"):
        from tpm.adapters.audit.s3_sink import S3CheckpointSink
        from tpm.adapters.audit.wrapped_signer import WrappedKeySigner

        parsed = urlparse(url)
        query = parse_qs(parsed.query)
        sink = S3CheckpointSink(
            parsed.netloc,
            prefix=query.get("prefix", ["audit-checkpoints"])[0],
            kms_key_id=query.get("kms_key", [None])[0],
        )
        return WrappedKeySigner(store, master, publish=sink.publish_key), sink
    raise ValueError("unsupported audit url")

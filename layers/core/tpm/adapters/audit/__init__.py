"""Where the audit trail's checkpoint signing key and sealed checkpoint copies live.

TPM_AUDIT=local:///dir           key file + JSON Lines sink in a folder (tpm dev)
TPM_AUDIT=aws://<bucket>[?prefix=audit-checkpoints&kms_key=<arn>]
                                 signing key in the table, wrapped by the PHI master key
                                 (KMS); checkpoints sealed as Object-Lock S3 objects
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlparse

from tpm.adapters.keys.base import MasterKey
from tpm.adapters.store.base import Store
from tpm.security.audit_checkpoints import (
    CheckpointSigner,
    CheckpointSink,
    LocalCheckpointSigner,
    LocalCheckpointSink,
    PublicKeys,
)


def open_audit(
    url: str, store: Store, master: MasterKey
) -> tuple[CheckpointSigner, CheckpointSink, Callable[[], PublicKeys]]:
    """The signer, the sink, and where verification reads the keys it may trust: never
    the table it checks. Locally the public key files beside the signing key; in AWS the
    keys published write-once to the sink (every key ever used, so old checkpoints verify
    after a rotation)."""
    if url.startswith("local:///"):
        directory = url.removeprefix("local://")
        signer = LocalCheckpointSigner(f"{directory}/signing")
        return signer, LocalCheckpointSink(f"{directory}/checkpoints"), signer.public_keys
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
        wrapped = WrappedKeySigner(
            store, master, publish=sink.publish_key, published=sink.published_keys
        )
        return wrapped, sink, sink.published_keys
    raise ValueError("unsupported audit url")

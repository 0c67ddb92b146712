"""Master-key adapters, chosen by URL (TPM_KEYS), never by `if local:` in domain code.

local:///abs/path/keys      LocalMasterKey: key files in that directory
kms://alias/name            KmsMasterKey: an alias, key id or key ARN after "kms://"
kms://arn:aws:kms:...:key/…
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tpm.adapters.keys.base import MasterKey

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

__all__ = ["MasterKey", "local_key_dir", "open_master_key"]


def open_master_key(url: str, *, kms_client: KMSClient | None = None) -> MasterKey:
    # Adapters are imported here, not at module top: the KMS one pulls in botocore.
    if url.startswith("local:///"):
        from tpm.adapters.keys.local import LocalMasterKey

        return LocalMasterKey(local_key_dir(url))
    if url.startswith("kms://") and len(url) > len("kms://"):
        from tpm.adapters.keys.kms import KmsMasterKey

        return KmsMasterKey(url[len("kms://") :], client=kms_client)
    raise ValueError("a key URL is local:///abs/dir or kms://<alias, key id or ARN>")


def local_key_dir(url: str) -> str:
    rest = url.removeprefix("local:///")
    if not rest:
        raise ValueError("a key URL is local:///abs/dir or kms://<alias, key id or ARN>")
    return rest if rest.startswith(("/", ".")) else "/" + rest

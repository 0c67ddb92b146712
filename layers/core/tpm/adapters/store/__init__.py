"""The item store port and its adapters, chosen by URL (TPM_STORE), never by `if local:`.

  sqlite:///abs/path/tpm.db   the local embedded runtime
  dynamodb://TableName        AWS (region from the environment or `region`)

Adapters are imported only when chosen, so a Lambda never imports sqlite3 code paths
and `tpm dev` never pays boto3's import time for the store.
"""

from __future__ import annotations

from tpm.adapters.store.base import Store, StoreMisuse
from tpm.clock import Clock

__all__ = ["Store", "open_store"]


def open_store(url: str, *, clock: Clock | None = None, region: str | None = None) -> Store:
    if url.startswith("sqlite:///"):
        from tpm.adapters.store.sqlite import SqliteStore

        return SqliteStore(sqlite_path(url), clock=clock)
    if url.startswith("dynamodb://"):
        from tpm.adapters.store.dynamodb import DynamoStore

        table = url.removeprefix("dynamodb://").strip("/")
        if not table:
            raise StoreMisuse("dynamodb store URL needs a table name")
        return DynamoStore(table, region=region, clock=clock)
    raise StoreMisuse("store URL must be sqlite:///path or dynamodb://table")


def sqlite_path(url: str) -> str:
    """File-URL reading: sqlite:///abs/tpm.db and sqlite:////abs/tpm.db are /abs/tpm.db;
    a path starting with "." (the default sqlite:///.tpm/tpm.db) is relative to the cwd."""
    rest = url.removeprefix("sqlite:///")
    if not rest or rest == url:
        raise StoreMisuse("sqlite store URL needs a path")
    if rest.startswith(("/", ".")):
        return rest
    return "/" + rest

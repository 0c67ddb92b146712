"""`tpm dev`'s checks before it serves anything: a clear message and exit, never a server
that says "ok" on /v1/health and then answers 500 to every sign-in.

1. The data directory: a database (`tpm.db`) without its keys is refused unless
   `--new-keys` is given — creating fresh keys over existing data would make every sealed
   field unreadable and the audit chain's signatures untrusted. Checked: the PHI master
   keys (`keys/active`) always, the audit signing keys (`audit/signing/`) once the
   database holds an audit trail. (A missing token signing key only ends sessions.)
2. The database opens and passes SQLite's `quick_check` (a damaged or foreign file is
   named, with what to do, instead of a traceback).
3. The keys load (file permissions included) and open a sentinel sealed with them at the
   first start (`STARTUP`/`SENTINEL` in the system partition): a master key that was
   replaced, truncated or copied from another install fails here.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tpm.adapters.identity.local import LocalIdentity
from tpm.adapters.store.base import SYSTEM_PRACTICE
from tpm.errors import TpmError
from tpm.runtime import Runtime

SENTINEL_KEY = ("STARTUP", "SENTINEL")
SENTINEL_TEXT = "tpm local keys sentinel v1"
_MASTER_KEYS = ("keys/active", "the PHI master keys (keys/)")
_AUDIT_KEYS = ("audit/signing", "the audit signing keys (audit/signing/)")


class StartupRefused(Exception):
    """What is wrong, and what to do; `tpm dev` prints it and exits 2."""


def check_data_dir(data_dir: Path, *, new_keys: bool) -> None:
    """Before anything is created: data without keys is refused (unless `new_keys`)."""
    database = data_dir / "tpm.db"
    if not database.exists():
        return
    has_audit = _check_database(database)
    wanted = [_MASTER_KEYS, _AUDIT_KEYS] if has_audit else [_MASTER_KEYS]
    missing = [what for path, what in wanted if not (data_dir / path).exists()]
    if missing and not new_keys:
        raise StartupRefused(
            f"{data_dir} holds a database but not {', '.join(missing)}. Starting would create"
            " new keys, and the existing records and audit trail could not be read or trusted"
            " with them. Restore the keys from the backup you took with the database"
            " (docs/operations.md), or, for a throwaway data directory only, run again with"
            " --new-keys."
        )


def _check_database(database: Path) -> bool:
    """Opens and checks the file; True when it holds an audit trail (a chain head)."""
    try:
        conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            (result,) = conn.execute("PRAGMA quick_check").fetchone()
            heads = conn.execute(
                "SELECT 1 FROM items WHERE pk LIKE ? AND sk = 'HEAD' LIMIT 1", ("%|AUDIT",)
            ).fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise StartupRefused(_damaged(database, str(exc))) from None
    if result != "ok":
        raise StartupRefused(_damaged(database, str(result)))
    return bool(heads)


def _damaged(database: Path, detail: str) -> str:
    return (
        f"{database} is damaged or is not a tpm database ({detail}). Nothing was changed."
        " Stop here: copy the whole data directory aside, then restore the latest backup"
        " and run `tpm audit verify` (docs/operations.md, 'Backups and restore')."
    )


def check_keys(runtime: Runtime) -> None:
    """The keys load and open the sentinel (sealed with them on the first start)."""
    cipher = runtime.cipher
    store = runtime.store.practice(SYSTEM_PRACTICE)
    try:
        if isinstance(runtime.identity, LocalIdentity):
            runtime.identity.signer  # noqa: B018 - loads (and checks) the token signing key
        runtime.audit.trusted_keys()
        item = store.get(*SENTINEL_KEY)
        if item is None:
            sealed = cipher.encrypt_text(
                SYSTEM_PRACTICE, "startup", "sentinel", "text", SENTINEL_TEXT
            )
            store.put({"pk": SENTINEL_KEY[0], "sk": SENTINEL_KEY[1], "text": sealed})
            item = store.get(*SENTINEL_KEY)
            assert item is not None
        opened = cipher.decrypt_text(
            SYSTEM_PRACTICE, "startup", "sentinel", "text", str(item["text"])
        )
    except (TpmError, OSError, ValueError) as exc:
        raise StartupRefused(
            f"the local keys do not open this data directory ({type(exc).__name__}:"
            f" {getattr(exc, 'message', '') or exc}). Key files must be yours and mode 0600"
            " (directories 0700), and be the ones this database was written with; restore"
            " them from backup. Nothing was changed."
        ) from None
    if opened != SENTINEL_TEXT:
        raise StartupRefused("the local keys opened the sentinel to the wrong text; restore them")

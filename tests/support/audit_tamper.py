"""Going around the store adapter, straight into the SQLite file, as someone with access to
the database file (but not to the audit signing key) could.

Rows are keyed `<practice id>|<partition key>` (tpm.adapters.store.sqlite); a row's record
is the JSON in its `data` column.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tpm.adapters.store.base import SEPARATOR


class SqliteTamperer:
    def __init__(self, db_file: Path, practice_id: str) -> None:
        self.db = sqlite3.connect(db_file, isolation_level=None)
        self.practice_id = practice_id

    def _key(self, pk: str) -> str:
        return f"{self.practice_id}{SEPARATOR}{pk}"

    def snapshot(self, pk: str, sk: str) -> tuple[Any, ...]:
        row: tuple[Any, ...] = self.db.execute(
            "SELECT * FROM items WHERE pk = ? AND sk = ?", (self._key(pk), sk)
        ).fetchone()
        assert row is not None, f"no row {pk}/{sk}"
        return row

    def restore(self, snapshot: tuple[Any, ...]) -> None:
        marks = ",".join("?" * len(snapshot))
        self.db.execute(f"INSERT OR REPLACE INTO items VALUES ({marks})", snapshot)  # noqa: S608

    def edit(self, pk: str, sk: str, change: Callable[[dict[str, Any]], None]) -> None:
        (data,) = self.db.execute(
            "SELECT data FROM items WHERE pk = ? AND sk = ?", (self._key(pk), sk)
        ).fetchone()
        item = json.loads(data)
        change(item)
        self.db.execute(
            "UPDATE items SET data = ? WHERE pk = ? AND sk = ?",
            (json.dumps(item), self._key(pk), sk),
        )

    def remove(self, pk: str, sk: str) -> None:
        deleted = self.db.execute(
            "DELETE FROM items WHERE pk = ? AND sk = ?", (self._key(pk), sk)
        ).rowcount
        assert deleted == 1, f"no row {pk}/{sk}"

    def close(self) -> None:
        self.db.close()

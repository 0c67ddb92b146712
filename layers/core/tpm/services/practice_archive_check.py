"""Reading a whole-practice archive back and checking all of it, with no stack: every
entry's hash and seal (tpm.services.practice_archive_format), then the audit chain inside
with `tpm audit verify`'s own code (tpm.security.audit_verify.verify) on a scratch SQLite
copy of the archive's audit rows, against the archive's sealed checkpoints and public
keys. `tpm practice verify-archive` is this; export runs it on what it wrote, and import
runs it before its first write.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tpm.adapters.store import codec
from tpm.adapters.store.base import MAX_TRANSACTION_ITEMS, Item, Put
from tpm.adapters.store.sqlite import SqliteStore
from tpm.errors import IntegrityError
from tpm.security.audit import AUDIT_PK
from tpm.security.audit_chain import VerifyReport
from tpm.security.audit_checkpoints import Checkpoint, PublicKeys, public_key_from_pem
from tpm.security.audit_verify import verify
from tpm.services.practice_archive_format import ArchiveReader, ArchiveRefused

# Entry names and kinds (tpm.services.practice_archive says what each holds).
KEYRING, SYSTEM, SEALED, KEYS = "keyring", "system", "audit/sealed", "audit/keys"


@dataclass
class ArchiveSummary:
    """What an archive holds (counts and ids only; no PHI)."""

    archive_id: str
    practice_id: str
    items: int = 0
    data_keys: int = 0
    files: int = 0
    system_rows: int = 0
    audit_events: int = 0
    sealed_checkpoints: int = 0
    public_keys: int = 0
    archive_bytes: int = 0
    chain: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ArchiveContents:
    """A fully checked archive, its small parts in memory; files stay in the reader."""

    reader: ArchiveReader
    practice_id: str
    items: list[Item]
    keyring: list[Item]
    system: list[Item]
    sealed: list[Checkpoint]
    keys: dict[str, bytes]
    chain: dict[str, Any]

    @property
    def file_names(self) -> list[str]:
        return sorted(self.reader.names("file"))


class _ListSink:
    """The archive's sealed checkpoints, as a read-only sink for verification."""

    def __init__(self, practice_id: str, sealed: list[Checkpoint]) -> None:
        self.practice_id, self.sealed = practice_id, sealed

    def append(self, checkpoint: Checkpoint) -> None:
        raise IntegrityError("an archive's sealed log is read-only")

    def read(self, practice_id: str) -> list[Checkpoint]:
        return list(self.sealed) if practice_id == self.practice_id else []

    def latest(self, practice_id: str) -> Checkpoint | None:
        found = self.read(practice_id)
        return found[-1] if found else None


def open_archive(path: Path, passphrase: str) -> ArchiveContents:
    """Every entry read and checked, and the audit chain inside verified; the caller
    closes `contents.reader`. Raises ArchiveRefused on anything wrong."""
    reader = ArchiveReader(path, passphrase)
    try:
        contents = _load(reader)
    except ArchiveRefused:
        reader.close()
        raise
    except (ValueError, KeyError, TypeError) as exc:
        reader.close()
        raise ArchiveRefused("An archive entry is unreadable.") from exc
    return contents


def _load(reader: ArchiveReader) -> ArchiveContents:
    practice_id = reader.practice_id
    items = [
        codec.loads(line.decode())
        for n in sorted(reader.names("items"))
        for line in reader.lines(n)
    ]
    keyring = [codec.loads(line.decode()) for line in reader.lines(KEYRING)]
    system = [codec.loads(line.decode()) for line in reader.lines(SYSTEM)]
    sealed = [Checkpoint.model_validate_json(line) for line in reader.lines(SEALED)]
    keys = {k: v.encode("ascii") for k, v in json.loads(reader.read(KEYS)).items()}
    for name in reader.names("file"):
        reader.read(name)  # hash and seal of every file, before anything is written
    for row in system:
        if row.get("practice_id") != practice_id:
            raise ArchiveRefused("The archive's directory rows name another practice.")
    expected = reader.summary
    if (len(items), len(keyring)) != (expected.get("items"), expected.get("data_keys")):
        raise ArchiveRefused("The archive's contents do not match its manifest summary.")
    public: PublicKeys = {kid: public_key_from_pem(kid, pem) for kid, pem in keys.items()}
    report = _verify_chain(practice_id, items, public, sealed)
    return ArchiveContents(
        reader, practice_id, items, keyring, system, sealed, keys, chain_dict(report)
    )


def _verify_chain(
    practice_id: str, items: list[Item], keys: PublicKeys, sealed: list[Checkpoint]
) -> VerifyReport:
    """`tpm audit verify`'s own check, on a scratch store holding the archive's items
    (sealed PHI only; the data keys are never written there)."""
    with tempfile.TemporaryDirectory(prefix="tpm-archive-check-") as scratch:
        store = SqliteStore(Path(scratch) / "check.db")
        try:
            view = store.practice(practice_id)
            audit = [i for i in items if i["pk"] == AUDIT_PK]
            for start in range(0, len(audit), MAX_TRANSACTION_ITEMS):
                view.transact([Put(i) for i in audit[start : start + MAX_TRANSACTION_ITEMS]])
            return verify(view, keys, _ListSink(practice_id, sealed))
        finally:
            store.close()


def chain_dict(report: VerifyReport) -> dict[str, Any]:
    first = report.first_problem
    return {
        "ok": report.ok,
        "events": report.events_checked,
        "head_seq": report.head_seq,
        "checkpoints": report.checkpoints_checked,
        "sealed_checkpoints": report.sealed_checkpoints_checked,
        "first_problem": None if first is None else f"{first.kind} at seq {first.seq}",
    }


def verify_archive(path: Path, passphrase: str) -> ArchiveSummary:
    """Offline: no stack, no keys but the passphrase. ArchiveRefused when anything is off;
    a chain that does not verify is reported in `chain` (ok false)."""
    contents = open_archive(path, passphrase)
    try:
        return summary_of(contents, path)
    finally:
        contents.reader.close()


def summary_of(contents: ArchiveContents, path: Path) -> ArchiveSummary:
    s = contents.reader.summary
    return ArchiveSummary(
        archive_id=contents.reader.archive_id,
        practice_id=contents.practice_id,
        items=len(contents.items),
        data_keys=len(contents.keyring),
        files=len(contents.file_names),
        system_rows=len(contents.system),
        audit_events=int(s.get("audit_events", 0)),
        sealed_checkpoints=len(contents.sealed),
        public_keys=len(contents.keys),
        archive_bytes=path.stat().st_size,
        chain=contents.chain,
    )

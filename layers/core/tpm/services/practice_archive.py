"""Whole-practice export and restore: `tpm practice export | import | verify-archive`.

An archive (tpm.services.practice_archive_format) holds everything a practice holds:
  items/NNNNNN   every item of the practice's scope, as stored (PHI fields stay sealed
                 under the practice's data keys), the audit events, head and checkpoints
                 included, but not live refresh tokens (people sign in again); 500 per entry
  keyring        the practice's data keys, each as its keyring row with the plaintext key
                 in place of the master-key wrapping (the entry itself is encrypted under
                 the passphrase key); the import wraps them under the target's master key
  system         the practice's rows in the deployment-wide scope: its directory and slug
                 entries, its public link tokens and SMS number
  files/<id>     every stored file, as stored (sealed)
  audit/sealed   the sealed checkpoint copies from outside the database
  audit/keys     the public keys that signed the head and the checkpoints

Because the data keys travel (re-wrapped), no PHI field is decrypted or re-encrypted:
every record and file restores byte for byte, and every blind index still matches. The
practice id is bound into every field's AAD, so a practice is restored under its own id.

Both directions are on the record: the export appends `practice.export` to the practice's
chain and checkpoints it before reading (the archive carries its own export event); the
import appends `practice.import` to the restored chain and checkpoints it. Each direction
proves itself: the export reads its archive back and verifies the chain inside it before
it reports success; the import verifies the whole archive (every entry, then the chain
with `tpm.security.audit_verify.verify` on a scratch copy: tpm.services.practice_archive_check)
before it writes anything, and verifies the restored chain afterwards.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from tpm.adapters.store import codec
from tpm.adapters.store.base import (
    MAX_TRANSACTION_ITEMS,
    SYSTEM_PRACTICE,
    Absent,
    ConditionFailed,
    Delete,
    Exists,
    Item,
    PracticeStore,
    Put,
    Store,
    iterate,
)
from tpm.clock import to_rfc3339
from tpm.errors import AlreadyExists, IntegrityError
from tpm.runtime import Runtime
from tpm.security.audit import AUDIT_PK, CHECKPOINT_PREFIX, HEAD_SK
from tpm.security.audit_chain import AuditEvent
from tpm.security.audit_checkpoints import Checkpoint, KeyTrust
from tpm.security.audit_verify import verify
from tpm.security.envelope import KEYRING_PK, data_key_context
from tpm.security.principal import SystemActor
from tpm.services.practice_archive_check import (
    KEYRING,
    KEYS,
    SEALED,
    SYSTEM,
    ArchiveContents,
    ArchiveSummary,
    chain_dict,
    open_archive,
    summary_of,
    verify_archive,
)
from tpm.services.practice_archive_format import ArchiveRefused, ArchiveWriter, check_passphrase
from tpm.services.practices import get_practice

__all__ = [
    "PRACTICE_EXPORTED",
    "PRACTICE_IMPORTED",
    "RESTORE_MARKER",
    "ArchiveSummary",
    "export_practice",
    "import_practice",
    "verify_archive",
]

PRACTICE_EXPORTED = "practice.export"
PRACTICE_IMPORTED = "practice.import"
ITEMS_PER_ENTRY = 500
# The practice's rows in the deployment-wide scope (tpm.services.practices,
# tpm.repositories.public_tokens): whole partitions whose rows name their practice.
_SYSTEM_PARTITIONS = ("PRACTICE", "PRACTICE_SLUG", "PUBLIC_TOKEN", "SMS_NUMBER")
# Live sign-in credentials do not travel (tpm.repositories.sessions): on the restored stack
# everyone signs in again. The sessions themselves, as history, do.
_NOT_CARRIED = ("REFRESH#",)
# In the practice's scope while an import writes it; removed with the import's audit event.
RESTORE_MARKER = ("RESTORE", "IN_PROGRESS")


# ---- export ---------------------------------------------------------------------------


def export_practice(
    runtime: Runtime, practice_id: str, path: Path, passphrase: str, actor: SystemActor
) -> ArchiveSummary:
    check_passphrase(passphrase)
    practice = get_practice(runtime.store, practice_id)  # NotFound: nothing to export
    store = runtime.store.practice(practice_id)
    event = AuditEvent.for_system(
        actor, action=PRACTICE_EXPORTED, resource_kind="practice", resource_id=practice_id
    )
    runtime.audit.record(store, event)
    runtime.audit.checkpoint(store)  # the sealed log now covers the export event

    now = to_rfc3339(runtime.clock.now())
    writer = ArchiveWriter(path, practice_id=practice_id, created_at=now, passphrase=passphrase)
    try:
        summary = ArchiveSummary(writer.archive_id, practice_id)
        _write_items(runtime, practice_id, writer, summary)
        system = _system_rows(runtime.store, practice_id, practice.slug)
        writer.add(SYSTEM, _jsonl(system), kind=SYSTEM, count=len(system))
        summary.system_rows = len(system)
        for file_id in runtime.files.file_ids(practice_id):
            writer.add(
                f"files/{file_id}", runtime.files.read_sealed(practice_id, file_id), kind="file"
            )
            summary.files += 1
        sealed = runtime.audit.sink.read(practice_id)
        lines = b"".join(c.model_dump_json().encode() + b"\n" for c in sealed)
        writer.add(SEALED, lines, kind=SEALED, count=len(sealed))
        summary.sealed_checkpoints = len(sealed)
        keys = _signing_keys(runtime, store, sealed)
        writer.add(KEYS, json.dumps(keys, sort_keys=True).encode(), kind=KEYS, count=len(keys))
        summary.public_keys = len(keys)
        summary.archive_bytes = writer.finish(summary.as_dict())
    except BaseException:
        writer.abandon()
        raise
    # Read it back as an import would: a practice that changed during the export (a head
    # and events from different moments) fails here, not on the day of the restore.
    checked = verify_archive(path, passphrase)
    summary.chain = checked.chain
    if not checked.chain.get("ok"):
        path.unlink()
        raise ArchiveRefused(
            f"The audit chain in the archive does not verify ({checked.chain['first_problem']}):"
            " the practice changed during the export (run it again in a quiet moment), or its"
            " trail was altered (run `tpm audit verify`). No archive was kept."
        )
    return summary


def _write_items(
    runtime: Runtime, practice_id: str, writer: ArchiveWriter, summary: ArchiveSummary
) -> None:
    batch: list[Item] = []
    keyring: list[Item] = []
    entries = 0
    for item in runtime.store.dump_practice(practice_id):
        if str(item["pk"]).startswith(_NOT_CARRIED):
            continue
        if item["pk"] == KEYRING_PK and str(item["sk"]).startswith("DK#"):
            context = data_key_context(practice_id, str(item["kind"]), str(item["dk_id"]))
            material = runtime.master_key.unwrap(bytes(item["wrapped"]), context)
            row = {k: v for k, v in item.items() if k not in ("wrapped", "master_key_id")}
            keyring.append(row | {"data_key": material})
            continue
        if item["pk"] == AUDIT_PK and str(item["sk"]).startswith("EVT"):  # every shard
            summary.audit_events += 1
        batch.append(item)
        if len(batch) == ITEMS_PER_ENTRY:
            entries += 1
            _add_items(writer, entries, batch, summary)
            batch = []
    if batch:
        _add_items(writer, entries + 1, batch, summary)
    writer.add(KEYRING, _jsonl(keyring), kind=KEYRING, count=len(keyring))
    summary.data_keys = len(keyring)


def _add_items(
    writer: ArchiveWriter, number: int, batch: list[Item], summary: ArchiveSummary
) -> None:
    writer.add(f"items/{number:06d}", _jsonl(batch), kind="items", count=len(batch))
    summary.items += len(batch)


def _system_rows(store: Store, practice_id: str, slug: str) -> list[Item]:
    system = store.practice(SYSTEM_PRACTICE)
    rows: list[Item] = []
    for partition in _SYSTEM_PARTITIONS:
        rows += [r for r in iterate(system, partition) if r.get("practice_id") == practice_id]
    if not any(r["pk"] == "PRACTICE_SLUG" and r["sk"] == slug for r in rows):
        raise IntegrityError("the practice's directory entry is missing")
    return rows


def _signing_keys(
    runtime: Runtime, store: PracticeStore, sealed: list[Checkpoint]
) -> dict[str, str]:
    """Public halves of every key that signed this practice's head or a checkpoint."""
    used = {c.key_id for c in sealed}
    for item in iterate(store, AUDIT_PK, sk_prefix=CHECKPOINT_PREFIX):
        used.add(str(item["key_id"]))
    for head in iterate(store, AUDIT_PK, sk_prefix=HEAD_SK):  # every shard's head
        used.add(str(head["key_id"]))
    trusted = runtime.audit.trusted_keys()
    missing = sorted(used - set(trusted))
    if missing:
        raise IntegrityError(f"audit signing key {missing[0]} is not trusted here")
    return {
        kid: trusted[kid]
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
        for kid in sorted(used)
    }


def _jsonl(items: list[Item]) -> bytes:
    return "".join(codec.dumps(item) + "\n" for item in items).encode("utf-8")


# ---- import -----------------------------------------------------------------------------


def import_practice(
    runtime: Runtime,
    path: Path,
    passphrase: str,
    actor_for: Callable[[str], SystemActor],
) -> ArchiveSummary:
    """Restores the archive's practice into this stack, where it must not exist yet.
    Everything is checked before the first write; `actor_for(practice_id)` is who the
    import's audit event names."""
    contents = open_archive(path, passphrase)
    try:
        if not contents.chain["ok"]:
            problem = contents.chain["first_problem"]
            raise ArchiveRefused(f"The audit chain in the archive does not verify ({problem}).")
        resuming = _require_empty(runtime, contents)
        summary = summary_of(contents, path)
        _restore(runtime, contents, resuming=resuming)
    finally:
        contents.reader.close()
    practice_id = contents.practice_id
    store = runtime.store.practice(practice_id)
    event = AuditEvent.for_system(
        actor_for(practice_id),
        action=PRACTICE_IMPORTED,
        resource_kind="practice",
        resource_id=summary.archive_id,
        reason_code="resumed" if resuming else None,
    )
    # The restore is complete exactly when its marker goes, with the import's event.
    runtime.audit.write_with_audit(store, lambda: [Delete(*RESTORE_MARKER, Exists())], event)
    runtime.audit.checkpoint(store)
    report = verify(store, runtime.audit.trusted_keys(), runtime.audit.sink)
    summary.chain = chain_dict(report)
    if not report.ok:
        raise IntegrityError(
            f"the restored audit chain does not verify ({summary.chain['first_problem']})"
        )
    return summary


def _require_empty(runtime: Runtime, contents: ArchiveContents) -> bool:
    """Refuses a target that holds the practice; True when it holds an interrupted import
    of this very archive (which then resumes)."""
    practice_id = contents.practice_id
    if not isinstance(runtime.audit.signer, KeyTrust):
        raise ArchiveRefused("This stack's audit signer cannot take the archive's public keys.")
    here = "Import restores a practice into a stack that does not hold it yet."
    if next(iter(runtime.store.dump_practice(practice_id)), None) is not None:
        marker = runtime.store.practice(practice_id).get(*RESTORE_MARKER)
        if marker is None:
            raise ArchiveRefused(f"Practice {practice_id} already holds data here. {here}")
        if marker["archive_id"] != contents.reader.archive_id:
            raise ArchiveRefused(
                f"An import of archive {marker['archive_id']} was interrupted here; run it"
                " again with that archive to finish it."
            )
        return True
    system = runtime.store.practice(SYSTEM_PRACTICE)
    for row in contents.system:
        if system.get(str(row["pk"]), str(row["sk"])) is not None:
            raise ArchiveRefused(
                f"This stack already has a {row['pk']} entry the practice needs"
                f" (another practice uses its slug, link token or number). {here}"
            )
    if runtime.files.file_ids(practice_id):
        raise ArchiveRefused(f"Practice {practice_id} already has files here. {here}")
    ours = {c.seq: c for c in contents.sealed}
    for sealed in runtime.audit.sink.read(practice_id):
        if ours.get(sealed.seq) != sealed:
            raise ArchiveRefused(
                "The sealed checkpoint log here already holds checkpoints for this practice"
                " that the archive lacks (the archive is older than the chain sealed here);"
                " restore into a stack with its own audit archive (docs/operations.md)."
            )
    return False


def _restore(runtime: Runtime, contents: ArchiveContents, *, resuming: bool) -> None:
    """Every write repeats safely on a resume: rows already written stay as they are
    (nothing is overwritten), files and sealed checkpoints already there must be the
    archive's own."""
    practice_id = contents.practice_id
    view = runtime.store.practice(practice_id)
    if not resuming:
        marker = {"pk": RESTORE_MARKER[0], "sk": RESTORE_MARKER[1]}
        view.put(marker | {"archive_id": contents.reader.archive_id}, Absent())
    signer = runtime.audit.signer
    assert isinstance(signer, KeyTrust)
    for key_id, pem in sorted(contents.keys.items()):
        signer.trust_key(key_id, pem)
    rows = [_rewrapped(runtime, practice_id, row) for row in contents.keyring]
    everything = rows + contents.items
    for start in range(0, len(everything), MAX_TRANSACTION_ITEMS):
        chunk = everything[start : start + MAX_TRANSACTION_ITEMS]
        try:
            view.transact([Put(item, Absent()) for item in chunk])
        except ConditionFailed:
            if not resuming:
                raise
            for item in chunk:  # fill in what the interrupted run did not write
                with contextlib.suppress(ConditionFailed):
                    view.put(item, Absent())
    for checkpoint in contents.sealed:
        runtime.audit.sink.append(checkpoint)
    for name in contents.file_names:
        file_id, sealed = name.removeprefix("files/"), contents.reader.read(name)
        try:
            runtime.files.write_sealed(practice_id, file_id, sealed)
        except AlreadyExists:
            if not resuming or runtime.files.read_sealed(practice_id, file_id) != sealed:
                raise
    # The directory entries last: until they exist nobody can sign in to a half restore.
    system = runtime.store.practice(SYSTEM_PRACTICE)
    for row in contents.system:
        existing = system.get(str(row["pk"]), str(row["sk"]))
        if existing is None:
            system.put(row, Absent())
        elif existing != row:
            raise ArchiveRefused(f"This stack already has a {row['pk']} entry the practice needs.")


def _rewrapped(runtime: Runtime, practice_id: str, row: Item) -> Item:
    context = data_key_context(practice_id, str(row["kind"]), str(row["dk_id"]))
    wrapped = runtime.master_key.wrap(bytes(row["data_key"]), context)
    kept = {k: v for k, v in row.items() if k != "data_key"}
    return kept | {"wrapped": wrapped, "master_key_id": runtime.master_key.wrapped_by(wrapped)}

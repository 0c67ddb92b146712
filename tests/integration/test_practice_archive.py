"""The restore drill: the demo practice (with all its working data) is exported to an
encrypted archive and imported into a fresh, empty data dir with a master key of its own;
the restored audit chain verifies and every record and file reads back identical. Then the
archive is damaged in every way the format promises to catch, and nothing is imported.
"""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from tpm.adapters.files import FileStore
from tpm.adapters.store.base import Item
from tpm.errors import DependencyUnavailable
from tpm.local.bootstrap import ensure_demo_practice, local_settings
from tpm.repositories.documents import DocumentRepository
from tpm.repositories.patients import PatientRepository
from tpm.runtime import Runtime, build_runtime
from tpm.security.audit import AUDIT_PK, HEAD_SK, read_events, read_head
from tpm.security.audit_chain import AuditEvent
from tpm.security.audit_verify import verify
from tpm.security.envelope import KEYRING_PK
from tpm.security.principal import SystemActor
from tpm.services.practice_archive import (
    PRACTICE_EXPORTED,
    PRACTICE_IMPORTED,
    RESTORE_MARKER,
    ArchiveSummary,
    export_practice,
    import_practice,
    verify_archive,
)
from tpm.services.practice_archive_format import HEADER, MANIFEST, ArchiveRefused

PASSPHRASE = "orchard-lantern-pebble-91"
REFRESH_PK = "REFRESH#0123456789abcdef"


@dataclass
class Exported:
    source: Runtime
    practice_id: str
    archive: Path
    summary: ArchiveSummary
    items: dict[tuple[str, str], Item]  # the source practice right after the export
    tmp: Path


def _actor(practice_id: str) -> SystemActor:
    return SystemActor("operator-cli", practice_id, "test-drill")


def _runtime(data_dir: Path) -> Runtime:
    return build_runtime(local_settings(data_dir, environment="test"))


def _items(runtime: Runtime, practice_id: str) -> dict[tuple[str, str], Item]:
    return {(i["pk"], i["sk"]): i for i in runtime.store.dump_practice(practice_id)}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exported]:
    tmp = tmp_path_factory.mktemp("archive")
    source = _runtime(tmp / "source")
    demo = ensure_demo_practice(source)  # people AND working data: notes, files, billing…
    # A live sign-in (a refresh token row), which must not travel.
    source.store.practice(demo.practice_id).put(
        {"pk": REFRESH_PK, "sk": "TOKEN", "user_id": "usr_x", "session_id": "ses_x"}
    )
    archive = tmp / "demo.tpmx"
    summary = export_practice(
        source, demo.practice_id, archive, PASSPHRASE, _actor(demo.practice_id)
    )
    yield Exported(
        source, demo.practice_id, archive, summary, _items(source, demo.practice_id), tmp
    )
    source.store.close()


@pytest.fixture
def target(tmp_path: Path) -> Iterator[Runtime]:
    runtime = _runtime(tmp_path / "restored")
    yield runtime
    runtime.store.close()


def test_restore_drill_round_trips_the_demo_practice(exported: Exported, target: Runtime) -> None:
    source, practice_id = exported.source, exported.practice_id
    # GIVEN an archive of the whole demo practice, checked as it was written
    assert exported.summary.chain["ok"] is True
    assert exported.summary.files >= 5
    assert exported.summary.audit_events > 50
    # WHEN it is imported into an empty data dir whose master key is another one
    assert target.master_key.key_id != source.master_key.key_id
    restored = import_practice(target, exported.archive, PASSPHRASE, _actor)
    # THEN the restored audit chain verifies there, head, checkpoints and seals included
    store = target.store.practice(practice_id)
    report = verify(store, target.audit.trusted_keys(), target.audit.sink)
    assert report.ok, report.summary()
    assert restored.chain["ok"] is True
    assert report.sealed_checkpoints_checked == exported.summary.sealed_checkpoints + 1
    # AND every item is there exactly as it was; only the data keys' wrapping is new
    after = _items(target, practice_id)
    source_head = read_head(source.store.practice(practice_id))
    assert source_head is not None
    assert (REFRESH_PK, "TOKEN") in exported.items
    assert (REFRESH_PK, "TOKEN") not in after  # people sign in again on the restored stack
    for key, item in exported.items.items():
        if key in ((AUDIT_PK, HEAD_SK), (REFRESH_PK, "TOKEN")):
            continue  # the restored chain has moved on by the import's own event
        assert key in after, key
        if key[0] == KEYRING_PK and key[1].startswith("DK#"):
            assert after[key]["wrapped"] != item["wrapped"]
            strip = ("wrapped", "master_key_id")
            assert {k: v for k, v in after[key].items() if k not in strip} == {
                k: v for k, v in item.items() if k not in strip
            }
        else:
            assert after[key] == item, key
    new = set(after) - set(exported.items)
    assert new
    assert all(pk == AUDIT_PK for pk, _ in new)  # the import's own event and checkpoint
    # AND the practice's directory entry, so people find it by its slug
    assert target.store.practice("_system").get("PRACTICE", practice_id) is not None
    # AND every record and file opens under the restored keys and reads back identical
    old_patients = PatientRepository(source.store.practice(practice_id), source.cipher)
    new_patients = PatientRepository(store, target.cipher)
    assert new_patients.page(1000, None) == old_patients.page(1000, None)
    assert len(new_patients.page(1000, None)[0]) >= 5
    files = source.files.file_ids(practice_id)
    assert files == target.files.file_ids(practice_id)
    assert len(files) == exported.summary.files
    for file_id in files:
        assert target.files.get(practice_id, file_id) == source.files.get(practice_id, file_id)
    documents = [k[0].removeprefix("DOCUMENT#") for k in after if k[0].startswith("DOCUMENT#")]
    for document_id in documents:
        old = DocumentRepository(source.store.practice(practice_id), source.cipher)
        assert DocumentRepository(store, target.cipher).get(document_id) == old.get(document_id)
    # AND blind indexes (search by name, DOB, phone) still match: same index key
    assert target.cipher.blind_index(practice_id, "name", "avery") == source.cipher.blind_index(
        practice_id, "name", "avery"
    )


def test_export_and_import_are_each_in_the_trail(exported: Exported, target: Runtime) -> None:
    import_practice(target, exported.archive, PASSPHRASE, _actor)
    store = target.store.practice(exported.practice_id)
    head = read_head(store)
    assert head is not None
    events = list(read_events(store, 1, head.seq))
    exports = [e for e in events if e.action == PRACTICE_EXPORTED]
    imports = [e for e in events if e.action == PRACTICE_IMPORTED]
    # The export's event is inside the archive it made; the import's follows it.
    assert [(e.actor_id, e.resource_id) for e in exports] == [
        ("operator-cli", exported.practice_id)
    ]
    assert [(e.actor_id, e.resource_id) for e in imports] == [
        ("operator-cli", exported.summary.archive_id)
    ]
    assert events[-1].action == PRACTICE_IMPORTED


def test_import_refuses_a_practice_that_is_not_empty(exported: Exported, target: Runtime) -> None:
    import_practice(target, exported.archive, PASSPHRASE, _actor)
    before = _items(target, exported.practice_id)
    with pytest.raises(ArchiveRefused, match="already holds data here"):
        import_practice(target, exported.archive, PASSPHRASE, _actor)
    assert _items(target, exported.practice_id) == before
    # AND the stack that exported it refuses it too (its practice is there)
    with pytest.raises(ArchiveRefused, match="already holds data here"):
        import_practice(exported.source, exported.archive, PASSPHRASE, _actor)


class _FailingFiles:
    """The real file store, except that the n-th restored file fails (an outage)."""

    def __init__(self, real: FileStore, fail_at: int) -> None:
        self.real, self.left = real, fail_at

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def write_sealed(self, practice_id: str, file_id: str, sealed: bytes) -> None:
        self.left -= 1
        if self.left == 0:
            raise DependencyUnavailable(dependency="files")
        self.real.write_sealed(practice_id, file_id, sealed)


def test_an_interrupted_import_resumes_with_the_same_archive(
    exported: Exported, target: Runtime
) -> None:
    practice_id = exported.practice_id
    # GIVEN an import cut off by an outage half way through the files
    flaky = replace(target, files=_FailingFiles(target.files, fail_at=4))
    with pytest.raises(DependencyUnavailable):
        import_practice(flaky, exported.archive, PASSPHRASE, _actor)
    store = target.store.practice(practice_id)
    assert store.get(*RESTORE_MARKER) is not None
    assert target.store.practice("_system").get("PRACTICE", practice_id) is None  # no sign-in
    # WHEN another archive is offered THEN it is refused; nothing changes
    store.put({"pk": RESTORE_MARKER[0], "sk": RESTORE_MARKER[1], "archive_id": "arc_other"})
    with pytest.raises(ArchiveRefused, match="import of archive arc_other was interrupted"):
        import_practice(target, exported.archive, PASSPHRASE, _actor)
    store.put(
        {
            "pk": RESTORE_MARKER[0],
            "sk": RESTORE_MARKER[1],
            "archive_id": exported.summary.archive_id,
        }
    )
    # WHEN the same archive is imported again THEN it finishes, and all is as in the drill
    restored = import_practice(target, exported.archive, PASSPHRASE, _actor)
    assert restored.chain["ok"] is True
    assert store.get(*RESTORE_MARKER) is None
    assert target.files.file_ids(practice_id) == exported.source.files.file_ids(practice_id)
    report = verify(store, target.audit.trusted_keys(), target.audit.sink)
    assert report.ok, report.summary()
    head = read_head(store)
    assert head is not None
    last = list(read_events(store, head.seq - 1, head.seq))
    assert [(e.action, e.reason_code) for e in last][-1] == (PRACTICE_IMPORTED, "resumed")
    # AND once finished, the practice is simply not empty any more
    with pytest.raises(ArchiveRefused, match="already holds data here"):
        import_practice(target, exported.archive, PASSPHRASE, _actor)


def test_a_trail_with_several_chains_restores_and_keeps_growing(tmp_path: Path) -> None:
    # GIVEN a practice whose audit trail has four chains (shards), each with events
    source = _runtime(tmp_path / "source")
    target = _runtime(tmp_path / "restored")
    try:
        practice_id = ensure_demo_practice(source, with_working_data=False).practice_id
        store = source.store.practice(practice_id)
        actor = _actor(practice_id)
        opened = AuditEvent.for_system(actor, action="audit.shards", resource_kind="audit_event")
        source.audit.open_shards(store, 4, opened)
        for n in range(24):
            read = AuditEvent.for_system(
                actor, action="practice.read", resource_kind="practice", resource_id=f"r{n}"
            )
            source.audit.record(store, read)
        assert len(store.query(AUDIT_PK, sk_prefix="HEAD").items) == 4
        # WHEN it is exported and imported
        archive = tmp_path / "sharded.tpmx"
        exported = export_practice(source, practice_id, archive, PASSPHRASE, actor)
        import_practice(target, archive, PASSPHRASE, _actor)
        # THEN every chain is there and verifies, and the restored trail takes new events
        restored = target.store.practice(practice_id)
        assert len(restored.query(AUDIT_PK, sk_prefix="HEAD").items) == 4
        for n in range(8):
            read = AuditEvent.for_system(
                actor, action="practice.read", resource_kind="practice", resource_id=f"x{n}"
            )
            target.audit.record(restored, read)
        report = verify(restored, target.audit.trusted_keys(), target.audit.sink)
        assert report.ok, report.summary()
        assert report.events_checked == exported.audit_events + 1 + 8
    finally:
        source.store.close()
        target.store.close()


def test_verify_archive_offline(exported: Exported) -> None:
    summary = verify_archive(exported.archive, PASSPHRASE)
    assert summary.chain["ok"] is True
    assert (summary.items, summary.files, summary.data_keys) == (
        exported.summary.items,
        exported.summary.files,
        exported.summary.data_keys,
    )


# ---- damaged archives: refused, nothing imported ------------------------------------------


def _rewrite(archive: Path, out: Path, change: dict[str, bytes | None]) -> None:
    """A copy of the zip with entries replaced (bytes) or dropped (None)."""
    with zipfile.ZipFile(archive) as old, zipfile.ZipFile(out, "w") as new:
        for name in old.namelist():
            body = change.get(name, old.read(name))
            if body is not None:
                new.writestr(name, body)
        for name, body in change.items():
            if name not in old.namelist() and body is not None:
                new.writestr(name, body)


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def _entry(archive: Path, prefix: str) -> tuple[str, bytes]:
    with zipfile.ZipFile(archive) as zf:
        name = next(n for n in zf.namelist() if n.startswith(prefix))
        return name, zf.read(name)


def _damaged(kind: str, archive: Path, out: Path) -> None:
    if kind == "truncated":
        out.write_bytes(archive.read_bytes()[: archive.stat().st_size * 2 // 3])
    elif kind == "item_edited":
        name, body = _entry(archive, "items/")
        _rewrite(archive, out, {name: _flip(body, len(body) // 2)})
    elif kind == "file_edited":
        name, body = _entry(archive, "files/")
        _rewrite(archive, out, {name: _flip(body, len(body) - 3)})
    elif kind == "entry_missing":
        name, _ = _entry(archive, "files/")
        _rewrite(archive, out, {name: None})
    elif kind == "entry_added":
        _rewrite(archive, out, {"files/doc_smuggled": b"\x00" * 64})
    elif kind == "entries_swapped":
        first, body = _entry(archive, "items/")
        keyring = _entry(archive, "keyring")[1]
        _rewrite(archive, out, {first: keyring, "keyring": body})
    elif kind == "header_edited":
        header = _entry(archive, HEADER)[1]
        _rewrite(archive, out, {HEADER: header.replace(b'"n": 32768', b'"n": 16384')})
    elif kind == "manifest_edited":
        manifest = _entry(archive, MANIFEST)[1]
        _rewrite(archive, out, {MANIFEST: _flip(manifest, 40)})
    else:
        raise AssertionError(kind)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("truncated", "truncated"),
        ("item_edited", "does not match its manifest line"),
        ("file_edited", "does not match its manifest line"),
        ("entry_missing", "missing entry files/"),
        ("entry_added", "which its manifest lacks"),
        ("entries_swapped", "does not match its manifest line"),
        ("header_edited", "passphrase is wrong, or the archive's header or manifest was altered"),
        ("manifest_edited", "passphrase is wrong, or the archive's header or manifest was altered"),
    ],
)
def test_a_damaged_archive_is_refused_and_nothing_is_imported(
    exported: Exported, target: Runtime, tmp_path: Path, kind: str, message: str
) -> None:
    damaged = tmp_path / f"{kind}.tpmx"
    _damaged(kind, exported.archive, damaged)
    with pytest.raises(ArchiveRefused, match=message):
        verify_archive(damaged, PASSPHRASE)
    with pytest.raises(ArchiveRefused, match=message):
        import_practice(target, damaged, PASSPHRASE, _actor)
    assert _items(target, exported.practice_id) == {}
    assert target.files.file_ids(exported.practice_id) == []
    assert target.audit.sink.read(exported.practice_id) == []


def test_the_wrong_passphrase_is_refused(exported: Exported, target: Runtime) -> None:
    with pytest.raises(ArchiveRefused, match="passphrase is wrong"):
        import_practice(target, exported.archive, "not-the-passphrase-at-all", _actor)
    assert _items(target, exported.practice_id) == {}


def test_an_archive_with_an_edited_audit_event_is_refused(
    exported: Exported, target: Runtime, tmp_path: Path
) -> None:
    # GIVEN a source practice whose trail was edited in its database (no signing key)
    copy = tmp_path / "edited-source"
    shutil.copytree(exported.tmp / "source", copy)
    edited = _runtime(copy)
    try:
        store = edited.store.practice(exported.practice_id)
        row = store.get(AUDIT_PK, "EVT#000000000003")
        assert row is not None
        store.put(row | {"reason_code": "tampered"})
        # WHEN it is exported THEN the export refuses to stand behind the archive
        with pytest.raises(ArchiveRefused, match=r"does not verify \(altered at seq 3\)"):
            export_practice(
                edited,
                exported.practice_id,
                tmp_path / "x.tpmx",
                PASSPHRASE,
                _actor(exported.practice_id),
            )
        assert not (tmp_path / "x.tpmx").exists()
    finally:
        edited.store.close()


def test_a_practice_with_several_audit_shards_round_trips(tmp_path: Path, target: Runtime) -> None:
    from tpm.clock import SystemClock
    from tpm.security.audit_chain import AuditEvent
    from tpm.security.audit_layout import read_heads
    from tpm.services.practices import create_practice

    source = _runtime(tmp_path / "sharded")
    try:
        practice = create_practice(
            source.store, SystemClock(), name="sharded", slug="sharded", timezone="UTC"
        )
        store = source.store.practice(practice.id)
        actor = _actor(practice.id)
        opening = AuditEvent.for_system(actor, action="audit.settings.update", resource_kind="x")
        source.audit.open_shards(store, 3, opening)
        for n in range(12):
            source.audit.record(
                store,
                AuditEvent.for_system(
                    SystemActor("test", practice.id, f"req-{n}"),
                    action="test.event",
                    resource_kind="x",
                ),
            )
        archive = tmp_path / "sharded.tpmx"
        summary = export_practice(source, practice.id, archive, PASSPHRASE, actor)
        assert summary.chain["ok"] is True
        assert summary.audit_events == sum(h.seq for h in read_heads(store).values())
    finally:
        source.store.close()
    import_practice(target, archive, PASSPHRASE, _actor)
    restored = target.store.practice(practice.id)
    assert sorted(read_heads(restored)) == [0, 1, 2]
    report = verify(restored, target.audit.trusted_keys(), target.audit.sink)
    assert report.ok, report.summary()
    assert report.shards == 3

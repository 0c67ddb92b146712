"""Audit exports checked offline, and the write-once archive: `tpm audit export` output
verifies with `tpm audit verify-export` and nothing else (no database), and an edited,
deleted or cut-off export — even one whose manifest was redone — is caught; archived
segments join up and verify the same way; a chain that no longer joins the archive stops
the archive and opens an incident."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.audit_tamper import SqliteTamperer
from support.operator_cli import OperatorCli, operator_cli

from tpm.repositories.incidents import IncidentRepository
from tpm.security.audit import event_sk
from tpm.security.audit_chain import AUDIT_EXPORTED
from tpm.services.audit_export import EVENTS_JSONL, MANIFEST, PUBLIC_KEYS


@pytest.fixture
def cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[OperatorCli]:
    with operator_cli(tmp_path, monkeypatch, capsys) as cli:
        yield cli


def grow(cli: OperatorCli, reads: int) -> None:
    for _ in range(reads):
        assert cli("users", "list").code == 0


def exported(cli: OperatorCli, tmp_path: Path, name: str = "export") -> Path:
    grow(cli, 4)
    assert cli("audit", "checkpoint").code == 0
    grow(cli, 2)
    out = tmp_path / name
    result = cli("audit", "export", "--out", str(out))
    assert result.code == 0, result.err
    return out


def copy_of(export: Path, tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copytree(export, target)
    return target


def lines(folder: Path) -> list[str]:
    return (folder / EVENTS_JSONL).read_text(encoding="utf-8").splitlines()


def write_lines(folder: Path, rows: list[str]) -> None:
    (folder / EVENTS_JSONL).write_text("".join(r + "\n" for r in rows), encoding="utf-8")


def redo_manifest(folder: Path, **changes: object) -> None:
    """What a careful forger does: recompute the file digests (and any totals)."""
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    manifest.update(changes)
    for name in manifest["files"]:
        manifest["files"][name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")


def offline(cli: OperatorCli, *args: str) -> tuple[int, str]:
    # verify-export takes no --data-dir: run it without the helper's extra flag
    from tpm.cli import main

    cli.capsys.readouterr()
    code = main(["audit", "verify-export", *args])
    out, err = cli.capsys.readouterr()
    return code, out + err


def test_an_export_verifies_offline_and_edits_deletions_and_cuts_are_caught(
    cli: OperatorCli, tmp_path: Path
) -> None:
    # GIVEN an export of the demo practice's trail
    export = exported(cli, tmp_path)
    # WHEN it is checked offline THEN it verifies, signed by the practice's key
    code, out = offline(cli, str(export))
    assert code == 0, out
    assert "OK: audit chain intact" in out
    assert "manifest signed by ed25519:" in out

    # an edited event
    edited = copy_of(export, tmp_path, "edited")
    rows = lines(edited)
    rows[2] = rows[2].replace('"outcome":"allowed"', '"outcome":"denied"')
    write_lines(edited, rows)
    code, out = offline(cli, str(edited))
    assert code == 1
    assert "altered" in out

    # a deleted event
    deleted = copy_of(export, tmp_path, "deleted")
    rows = lines(deleted)
    write_lines(deleted, rows[:3] + rows[4:])
    code, out = offline(cli, str(deleted))
    assert code == 1
    assert "gap                      seq 4" in out

    # the newest events cut off
    cut = copy_of(export, tmp_path, "cut")
    write_lines(cut, lines(cut)[:-2])
    code, out = offline(cli, str(cut))
    assert code == 1
    assert "truncated" in out

    # cut off AND the manifest redone to match: its signature no longer holds
    forged = copy_of(export, tmp_path, "forged")
    kept = lines(forged)[:-2]
    write_lines(forged, kept)
    last = json.loads(kept[-1])
    redo_manifest(forged, count=len(kept), last_seq=last["seq"], last_hash=last["hash"])
    code, out = offline(cli, str(forged))
    assert code == 1
    assert "the manifest's signature is not valid" in out


def test_a_forger_with_their_own_key_is_caught_by_the_pinned_keys(
    cli: OperatorCli, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from tpm.security.audit_chain import canonical_bytes
    from tpm.security.audit_checkpoints import key_id_for
    from tpm.services.audit_export import ExportManifest

    export = exported(cli, tmp_path)
    # GIVEN the operator pinned the practice's public keys
    pinned = tmp_path / "pinned"
    assert cli("audit", "keys", "--out", str(pinned)).code == 0
    assert list(pinned.glob("*.pem"))
    # WHEN someone replaces the keys that travel with the export and re-signs it
    forged = copy_of(export, tmp_path, "forged")
    key = Ed25519PrivateKey.generate()
    kid = key_id_for(key.public_key())
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (forged / PUBLIC_KEYS).write_text(json.dumps({kid: pem.decode()}), encoding="utf-8")
    manifest = json.loads((forged / MANIFEST).read_text(encoding="utf-8"))
    manifest["checkpoints_in_range"], manifest["latest_checkpoint"] = [], None
    manifest["files"][PUBLIC_KEYS] = hashlib.sha256((forged / PUBLIC_KEYS).read_bytes()).hexdigest()
    manifest["key_id"] = kid
    unsigned = ExportManifest.model_validate(manifest | {"signature": ""})
    import base64

    manifest["signature"] = base64.b64encode(
        key.sign(canonical_bytes(unsigned.signed_fields()))
    ).decode()
    (forged / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    # THEN with its own keys it looks consistent, but the pinned keys refuse it
    assert offline(cli, str(forged))[0] == 0
    code, out = offline(cli, "--trusted-keys", str(pinned), str(forged))
    assert code == 1
    assert "NO VALID SIGNATURE" in out
    assert offline(cli, "--trusted-keys", str(pinned), str(export))[0] == 0


def test_archived_segments_join_and_verify_offline(cli: OperatorCli, tmp_path: Path) -> None:
    # GIVEN three archive runs with activity between them
    for _ in range(3):
        grow(cli, 2)
        result = cli("audit", "archive")
        assert result.code == 0, result.err
        assert "archived seq" in result.out
    assert "nothing new" not in cli("audit", "archive").out  # the last run's own event
    # WHEN the archive is copied out and checked offline
    out = tmp_path / "fetched"
    result = cli("audit", "fetch-archive", "--out", str(out))
    assert result.code == 0, result.err
    segments = sorted(p for p in out.iterdir() if p.is_dir())
    assert len(segments) == 4
    code, report = offline(cli, *map(str, segments))
    # THEN every segment verifies and they join from seq 1 to the end
    assert code == 0, report
    firsts = [int(p.name.split("-")[0]) for p in segments]
    assert firsts[0] == 1
    # AND the archived files are read-only
    archived = cli.data_dir / "audit" / "archive" / cli.practice_id
    assert all(oct(f.stat().st_mode)[-3:] == "400" for f in archived.rglob("*") if f.is_file())
    # WHEN a middle segment is missing THEN the gap is reported
    code, report = offline(cli, str(segments[0]), *map(str, segments[2:]))
    assert code == 1
    assert "gap" in report
    assert cli.events()[-1].action == AUDIT_EXPORTED


def test_a_chain_that_no_longer_joins_the_archive_stops_it_and_opens_an_incident(
    cli: OperatorCli,
) -> None:
    grow(cli, 2)
    assert cli("audit", "archive").code == 0
    grow(cli, 2)
    # GIVEN someone rewrote an event after it was archived... and one after
    events = cli.events()
    tamperer = SqliteTamperer(cli.db_file, cli.practice_id)
    try:
        tamperer.edit("AUDIT", event_sk(events[-1].seq), lambda item: item.update(hash="f" * 64))
    finally:
        tamperer.close()
    # WHEN the archive runs THEN it refuses, and an incident is open for the officer
    result = cli("audit", "archive")
    assert result.code == 1
    assert "integrity_error" in result.err
    with cli.practice() as (runtime, store):
        incidents, _ = IncidentRepository(store, runtime.cipher).page(10, None, open_only=True)
    assert [(i.source, i.reference) for i in incidents] == [
        ("audit_verification", f"seq:{events[-1].seq}")
    ]
    # AND the incident was recorded although the failing chain refused its event
    assert len(cli.events()) == len(events)
    # AND running again does not open a second one
    assert cli("audit", "archive").code == 1
    with cli.practice() as (runtime, store):
        again, _ = IncidentRepository(store, runtime.cipher).page(10, None, open_only=True)
    assert len(again) == 1


# ---- tpm compliance query -------------------------------------------------------------------


def csv_rows(out: str) -> list[dict[str, str]]:
    import csv
    import io

    return list(csv.DictReader(io.StringIO(out)))


def test_compliance_query_answers_the_investigators_questions(cli: OperatorCli) -> None:
    from tpm.local.demo import DEMO_ACCOUNTS
    from tpm.security.principal import Role

    # GIVEN an administrative change, a few reads, and the demo patient's record opened
    owner = next(a for a in DEMO_ACCOUNTS if a.role is Role.OWNER)
    assert (
        cli("users", "set-roles", owner.email, "--role", "owner", "--role", "compliance").code == 0
    )
    grow(cli, 2)
    # WHEN the operator asks for every admin or permission change
    result = cli("compliance", "query", "admin")
    assert result.code == 0, result.err
    rows = csv_rows(result.out)
    # THEN the role change is there, nothing else
    assert [r["action"] for r in rows] == ["user.update_roles"]
    assert rows[0]["actor_id"] == "operator-cli"
    # WHEN they ask who opened the demo patient's record THEN they get exactly that
    from tpm.local.demo import DEMO_PATIENT
    from tpm.repositories.users import UserRepository
    from tpm.security.audit_chain import AuditEvent
    from tpm.security.principal import SystemActor

    with cli.practice() as (runtime, store):
        user = UserRepository(store, runtime.cipher).find_by_email(DEMO_PATIENT.email)
        assert user is not None
        assert user.patient_id is not None
        patient_id = user.patient_id
        runtime.audit.record(
            store,
            AuditEvent.for_system(
                SystemActor("test-reader", cli.practice_id),
                action="patient.read",
                resource_kind="patient",
                resource_id=patient_id,
                patient_id=patient_id,
            ),
        )
    rows = csv_rows(cli("compliance", "query", "patient", "--patient", patient_id).out)
    assert [(r["actor_id"], r["action"], r["patient_id"]) for r in rows] == [
        ("test-reader", "patient.read", patient_id)
    ]
    # WHEN they ask for one person's actions (by email) THEN only that person's
    result = cli("compliance", "query", "user", "--user", owner.email, "--json")
    assert result.code == 0, result.err
    # AND each query is in the trail
    assert cli.events()[-1].action == "audit.read"
    # AND the after-hours question treats a Sunday as outside business hours
    assert cli("compliance", "query", "after-hours", "--from", "2026-01-01").code == 0

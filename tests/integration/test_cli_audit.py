"""`tpm audit verify|export|checkpoint` against a real local data directory, with the
tampering done straight in the SQLite file (tests/support/audit_tamper.py)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.audit_tamper import SqliteTamperer
from support.operator_cli import OperatorCli, operator_cli

from tpm.clock import SystemClock
from tpm.security.audit import AUDIT_PK, HEAD_SK, checkpoint_sk, event_sk, read_head
from tpm.security.audit_chain import AUDIT_EXPORTED, AUDIT_VERIFIED
from tpm.security.audit_checkpoints import LocalCheckpointSink, load_public_keys
from tpm.services.audit_export import EVENTS_CSV, EVENTS_JSONL, MANIFEST, verify_export
from tpm.services.practices import create_practice


@pytest.fixture
def cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[OperatorCli]:
    with operator_cli(tmp_path, monkeypatch, capsys) as cli:
        yield cli


@pytest.fixture
def tamper(cli: OperatorCli) -> Iterator[SqliteTamperer]:
    tamperer = SqliteTamperer(cli.db_file, cli.practice_id)
    yield tamperer
    tamperer.close()


def grow(cli: OperatorCli, reads: int) -> int:
    """Adds `reads` audited operator reads to the demo chain; returns the head seq."""
    for _ in range(reads):
        assert cli("users", "list").code == 0
    return cli.events()[-1].seq


def sealed(cli: OperatorCli, practice_id: str | None = None) -> list[int]:
    sink = LocalCheckpointSink(cli.data_dir / "audit" / "checkpoints")
    return [c.seq for c in sink.read(practice_id or cli.practice_id)]


# ---- verify -------------------------------------------------------------------------------


def test_verify_reports_an_intact_chain_on_a_fresh_practice(cli: OperatorCli) -> None:
    result = cli("audit", "verify")
    assert result.code == 0, result.err
    assert "intact" in result.out
    assert "events" in result.out
    # AND the check itself is in the trail, by the operator
    last = cli.events()[-1]
    assert (last.action, last.actor_kind, last.actor_id) == (
        AUDIT_VERIFIED,
        "system",
        "operator-cli",
    )
    assert last.reason_code == "intact"


def test_verify_pinpoints_a_row_altered_in_the_sqlite_file(
    cli: OperatorCli, tamper: SqliteTamperer
) -> None:
    # GIVEN a chain of several events that verifies
    head = grow(cli, 4)
    assert cli("audit", "verify").code == 0
    # WHEN one event's JSON is rewritten in the database file
    tamper.edit(AUDIT_PK, event_sk(3), lambda item: item.update(reason_code="tampered"))
    result = cli("audit", "verify")
    # THEN verify fails and names that exact event
    assert result.code == 1
    assert "altered at seq 3" in result.out
    assert "first problem: altered at seq 3" in result.out
    # AND nothing was appended to the damaged chain
    with cli.practice() as (_, store):
        current = read_head(store)
        assert current is not None
        assert current.seq == head + 1  # the one verify that passed
    assert "nothing was written" in result.err


def test_verify_json_names_the_first_problem(cli: OperatorCli, tamper: SqliteTamperer) -> None:
    grow(cli, 2)
    tamper.edit(AUDIT_PK, event_sk(2), lambda item: item.update(actor_id="someone-else"))
    result = cli("audit", "verify", "--json")
    assert result.code == 1
    report = json.loads(result.out)
    assert report["ok"] is False
    assert report["first_problem"]["kind"] == "altered"
    assert report["first_problem"]["seq"] == 2


def test_verify_catches_a_deleted_event_as_a_gap(cli: OperatorCli, tamper: SqliteTamperer) -> None:
    grow(cli, 4)
    tamper.remove(AUDIT_PK, event_sk(2))
    result = cli("audit", "verify")
    assert result.code == 1
    assert "gap at seq 2" in result.out


def test_verify_catches_the_newest_events_cut_off_with_an_older_head_restored(
    cli: OperatorCli, tamper: SqliteTamperer
) -> None:
    # GIVEN a validly signed head saved at seq k, then more events and a sealed checkpoint
    kept = grow(cli, 2)
    old_head = tamper.snapshot(AUDIT_PK, HEAD_SK)
    newest = grow(cli, 3)
    assert cli("audit", "checkpoint").code == 0
    assert sealed(cli) == [newest]
    # WHEN the newest events and the checkpoint row are deleted and the old head put back,
    # so the table on its own is a consistent, validly signed chain ending at seq k
    for seq in range(kept + 1, newest + 1):
        tamper.remove(AUDIT_PK, event_sk(seq))
    tamper.remove(AUDIT_PK, checkpoint_sk(newest))
    tamper.restore(old_head)
    result = cli("audit", "verify")
    # THEN the checkpoint sealed outside the database shows the cut, and where it starts
    assert result.code == 1
    assert f"truncated at seq {kept + 1}" in result.out


def test_verify_catches_the_newest_events_deleted_under_the_head(
    cli: OperatorCli, tamper: SqliteTamperer
) -> None:
    newest = grow(cli, 3)
    tamper.remove(AUDIT_PK, event_sk(newest))
    tamper.remove(AUDIT_PK, event_sk(newest - 1))
    result = cli("audit", "verify")
    assert result.code == 1
    assert f"truncated at seq {newest - 1}" in result.out


# ---- export -------------------------------------------------------------------------------


def test_export_writes_events_csv_and_a_manifest_that_verify(
    cli: OperatorCli, tmp_path: Path
) -> None:
    head = grow(cli, 3)
    assert cli("audit", "checkpoint").code == 0
    out = tmp_path / "export"
    result = cli("audit", "export", "--from", "2000-01-01", "--to", "2999-12-31", "--out", str(out))
    assert result.code == 0, result.err
    assert str(out / MANIFEST) in result.out
    assert f"exported {head} event(s)" in result.out
    # THEN the three files are there and agree with each other and the chain
    lines = (out / EVENTS_JSONL).read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["seq"] for line in lines] == list(range(1, head + 1))
    with (out / EVENTS_CSV).open(encoding="utf-8", newline="") as f:
        assert len(list(csv.reader(f))) == head + 1  # header + one row per event
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["count"] == head
    assert manifest["first_seq"] == 1
    assert manifest["last_hash"] == json.loads(lines[-1])["hash"]
    assert manifest["prev_hash"] == "0" * 64
    assert manifest["latest_checkpoint"]["seq"] == head
    keys = load_public_keys(cli.data_dir / "audit" / "signing")
    assert verify_export(out, keys).ok
    # AND the export is in the trail, by the operator, and the live chain still verifies
    last = cli.events()[-1]
    assert (last.action, last.actor_id, last.reason_code) == (
        AUDIT_EXPORTED,
        "operator-cli",
        "verified",
    )
    assert cli("audit", "verify").code == 0


def test_export_of_a_range_with_no_events_writes_empty_files(
    cli: OperatorCli, tmp_path: Path
) -> None:
    out = tmp_path / "empty"
    result = cli("audit", "export", "--from", "2001-01-01", "--to", "2001-01-31", "--out", str(out))
    assert result.code == 0, result.err
    assert "exported 0 event(s)" in result.out
    assert (out / EVENTS_JSONL).read_text(encoding="utf-8") == ""
    assert json.loads((out / MANIFEST).read_text(encoding="utf-8"))["count"] == 0


def test_export_takes_rfc3339_and_excludes_the_end(cli: OperatorCli, tmp_path: Path) -> None:
    grow(cli, 3)
    events = cli.events()
    end = events[-1].time  # the newest event's own time: excluded
    expected = sum(e.time < end for e in events)
    assert 0 < expected < len(events)
    out = tmp_path / "slice"
    result = cli(
        "audit", "export", "--from", "2000-01-01T00:00:00Z", "--to", end, "--out", str(out)
    )
    assert result.code == 0, result.err
    assert json.loads((out / MANIFEST).read_text(encoding="utf-8"))["count"] == expected


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--from", "2026-13-01", "--from is not a date"),
        ("--to", "yesterday", "--to is not a date"),
        ("--from", "2026-01-01T00:00:00", "--from needs an offset"),
    ],
)
def test_export_refuses_bad_dates_and_writes_nothing(
    cli: OperatorCli, tmp_path: Path, flag: str, value: str, message: str
) -> None:
    before = len(cli.events())
    out = tmp_path / "bad"
    result = cli("audit", "export", flag, value, "--out", str(out))
    assert result.code == 1
    assert message in result.err
    assert not out.exists()
    assert len(cli.events()) == before


def test_export_refuses_a_range_that_ends_before_it_starts(
    cli: OperatorCli, tmp_path: Path
) -> None:
    backwards = ("--from", "2026-02-01", "--to", "2026-01-01")
    result = cli("audit", "export", *backwards, "--out", str(tmp_path / "x"))
    assert result.code == 1
    assert "--from must be before --to" in result.err


def test_export_never_overwrites(cli: OperatorCli, tmp_path: Path) -> None:
    out = tmp_path / "taken"
    out.mkdir()
    (out / "events.jsonl").write_text("keep me\n", encoding="utf-8")
    before = len(cli.events())
    result = cli("audit", "export", "--out", str(out))
    assert result.code == 1
    assert "new or empty directory" in result.err
    assert (out / "events.jsonl").read_text(encoding="utf-8") == "keep me\n"
    assert len(cli.events()) == before


# ---- checkpoint ---------------------------------------------------------------------------


def test_checkpoint_signs_and_seals_the_head_once(cli: OperatorCli) -> None:
    head = grow(cli, 2)
    first = cli("audit", "checkpoint")
    assert first.code == 0, first.err
    assert f"demo: checkpoint at seq {head}" in first.out
    again = cli("audit", "checkpoint")
    assert again.code == 0
    assert sealed(cli) == [head]  # nothing new to sign: no second checkpoint


def test_checkpoint_all_covers_every_practice_and_skips_empty_chains(cli: OperatorCli) -> None:
    with cli.runtime() as runtime:
        other = create_practice(
            runtime.store, SystemClock(), name="Quiet Practice", slug="quiet", timezone="UTC"
        )
    result = cli("audit", "checkpoint", "--all")
    assert result.code == 0, result.err
    assert "demo: checkpoint at seq 1" in result.out
    assert "quiet: no events yet" in result.out
    assert sealed(cli) == [1]
    assert sealed(cli, other.id) == []


def test_checkpoint_all_reports_a_broken_chain_and_still_signs_the_others(
    cli: OperatorCli, tamper: SqliteTamperer
) -> None:
    # GIVEN a second practice with a healthy chain, and the demo chain's newest event altered
    with cli.runtime() as runtime:
        other = create_practice(
            runtime.store, SystemClock(), name="Second Practice", slug="second", timezone="UTC"
        )
    assert cli("users", "list", "--practice", "second").code == 0
    tamper.edit(AUDIT_PK, event_sk(1), lambda item: item.update(hash="f" * 64))
    result = cli("audit", "checkpoint", "--all")
    assert result.code == 1
    assert "demo: FAILED: audit_unavailable" in result.err
    assert "second: checkpoint at seq 1" in result.out
    assert sealed(cli) == []
    assert sealed(cli, other.id) == [1]


# ---- finding the data ---------------------------------------------------------------------


def test_commands_refuse_a_data_dir_without_tpm_data(
    cli: OperatorCli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tpm.cli import main

    missing = tmp_path / "typo"
    assert main(["audit", "verify", "--data-dir", str(missing)]) == 1
    assert "no tpm data" in capsys.readouterr().err
    assert not missing.exists()  # no empty database or new keys were made


def test_commands_refuse_an_unknown_practice(cli: OperatorCli) -> None:
    result = cli("audit", "verify", "--practice", "nope")
    assert result.code == 1
    assert "no practice with slug 'nope'" in result.err


# ---- restore acknowledged -----------------------------------------------------------------


def test_a_point_in_time_restore_fails_verify_until_an_operator_acknowledges_it(
    cli: OperatorCli,
) -> None:
    import sqlite3
    from datetime import UTC, datetime

    # GIVEN a chain sealed at some point, and a copy of the database taken there
    grow(cli, 3)
    assert cli("audit", "checkpoint").code == 0
    point = datetime.now(UTC)
    backup = cli.data_dir.parent / "backup.db"
    with sqlite3.connect(cli.db_file) as src, sqlite3.connect(backup) as dst:
        src.backup(dst)
    # AND the practice carried on, sealed again, then the database was restored to the copy
    grow(cli, 3)
    assert cli("audit", "checkpoint").code == 0
    lost_to = sealed(cli)[-1]
    for suffix in ("-wal", "-shm"):
        cli.db_file.with_name(cli.db_file.name + suffix).unlink(missing_ok=True)
    backup.replace(cli.db_file)
    # THEN verify fails: to the sealed copies this is truncation
    assert cli("audit", "verify").code == 1
    # WHEN an operator acknowledges the restore
    bad = cli("audit", "acknowledge-restore", "--restore-point", "yesterday", "--by", "ops:kim")
    assert bad.code == 1
    ack = cli(
        "audit", "acknowledge-restore", "--restore-point", point.isoformat(), "--by", "ops:kim"
    )
    assert ack.code == 0, ack.err
    assert f"-{lost_to} lost" in ack.out
    # THEN verify passes, and says what was lost, by whom acknowledged — never just "intact"
    result = cli("audit", "verify")
    assert result.code == 0, result.out
    assert "OK WITH ACKNOWLEDGED RESTORE" in result.out
    assert "acknowledged restore: events" in result.out
    assert "ops:kim" in result.out
    as_json = json.loads(cli("audit", "verify", "--json").out)
    assert as_json["status"] == "intact_with_acknowledged_restores"
    assert [r["lost_to_seq"] for r in as_json["acknowledged_restores"]] == [lost_to]
    assert cli.events()[-1].reason_code == "intact_acknowledged_restore"

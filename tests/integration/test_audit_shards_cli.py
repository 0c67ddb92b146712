"""A practice whose audit trail has several shards, through the operator's commands:
`tpm audit shards` opens them, and `verify`, `export` + `verify-export`, `archive` +
`fetch-archive`, and `tpm compliance query` all cover every shard. An export missing one
shard's part is caught offline."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.operator_cli import OperatorCli, operator_cli

from tpm.security.audit import events_between
from tpm.security.audit_chain import AUDIT_SETTINGS_CHANGED
from tpm.security.audit_layout import read_heads


@pytest.fixture
def cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[OperatorCli]:
    with operator_cli(tmp_path, monkeypatch, capsys) as cli:
        yield cli


def offline(cli: OperatorCli, *args: str) -> tuple[int, str]:
    from tpm.cli import main

    cli.capsys.readouterr()
    code = main(["audit", "verify-export", *args])
    out, err = cli.capsys.readouterr()
    return code, out + err


def heads(cli: OperatorCli) -> dict[int, int]:
    from tpm.adapters.store.sqlite import SqliteStore

    store = SqliteStore(cli.db_file)
    try:
        return {k: h.seq for k, h in read_heads(store.practice(cli.practice_id)).items()}
    finally:
        store.close()


def all_events(cli: OperatorCli) -> list[str]:
    from tpm.adapters.store.sqlite import SqliteStore

    store = SqliteStore(cli.db_file)
    try:
        return [e.action for e in events_between(store.practice(cli.practice_id), None, None)]
    finally:
        store.close()


def sharded(cli: OperatorCli, shards: int = 3, reads: int = 24) -> None:
    result = cli("audit", "shards", "--count", str(shards))
    assert result.code == 0, result.err
    assert f"{shards} shard(s)" in result.out
    for _ in range(reads):  # each CLI run is a request of its own: they spread
        assert cli("users", "list").code == 0
    assert all(seq > 0 for seq in heads(cli).values()), heads(cli)


def test_shards_open_once_never_shrink_and_the_trail_verifies(cli: OperatorCli) -> None:
    sharded(cli)
    assert AUDIT_SETTINGS_CHANGED in all_events(cli)
    assert cli("audit", "shards", "--count", "2").code == 1  # never lowered
    assert cli("audit", "checkpoint").code == 0
    result = cli("audit", "verify", "--json")
    assert result.code == 0, result.out
    report = json.loads(result.out)
    assert (report["ok"], report["shards"]) == (True, 3)
    assert report["events_checked"] == sum(heads(cli).values()) - 1  # verify's own event


def test_an_export_covers_every_shard_and_one_missing_is_caught(
    cli: OperatorCli, tmp_path: Path
) -> None:
    sharded(cli)
    assert cli("audit", "checkpoint").code == 0
    out = tmp_path / "export"
    result = cli("audit", "export", "--out", str(out))
    assert result.code == 0, result.out + result.err
    assert "(3 shards)" in result.out
    assert sorted(p.name for p in out.iterdir()) == ["shard-00", "shard-01", "shard-02"]
    code, report = offline(cli, str(out))
    assert code == 0, report
    # WHEN one shard's part is gone THEN the export is incomplete
    partial = tmp_path / "partial"
    shutil.copytree(out, partial)
    shutil.rmtree(partial / "shard-01")
    code, report = offline(cli, str(partial))
    assert code == 1
    assert "no part for shard 1" in report


def test_the_archive_keeps_each_shard_in_segments_that_join(
    cli: OperatorCli, tmp_path: Path
) -> None:
    sharded(cli)
    for _ in range(2):
        result = cli("audit", "archive")
        assert result.code == 0, result.err
        for _ in range(6):
            assert cli("users", "list").code == 0
    out = tmp_path / "fetched"
    result = cli("audit", "fetch-archive", "--out", str(out))
    assert result.code == 0, result.err
    segments = sorted(p for p in out.rglob("*") if (p / "manifest.json").is_file())
    shards = {p.parent.name if p.parent != out else "s00" for p in segments}
    assert shards == {"s00", "s01", "s02"}
    code, report = offline(cli, *map(str, segments))
    assert code == 0, report
    # a shard's middle segment missing is a gap in that shard
    s01 = sorted(p for p in segments if p.parent.name == "s01")
    if len(s01) >= 3:
        rest = [p for p in segments if p != s01[1]]
        assert offline(cli, *map(str, rest))[0] == 1


def test_compliance_queries_read_every_shard(cli: OperatorCli) -> None:
    from tpm.local.demo import DEMO_ACCOUNTS
    from tpm.security.principal import Role

    sharded(cli, reads=12)
    owner = next(a for a in DEMO_ACCOUNTS if a.role is Role.OWNER)
    for roles in (["owner", "compliance"], ["owner"], ["owner", "compliance"]):
        flags = [f for role in roles for f in ("--role", role)]
        assert cli("users", "set-roles", owner.email, *flags).code == 0
    result = cli("compliance", "query", "admin", "--json")
    assert result.code == 0, result.err
    rows = [json.loads(line) for line in result.out.splitlines() if line.strip()]
    # every admin event, whichever shard holds it, in time order
    assert [r["action"] for r in rows] == [AUDIT_SETTINGS_CHANGED] + ["user.update_roles"] * 3
    assert [r["time"] for r in rows] == sorted(r["time"] for r in rows)
    assert len(all_events(cli)) == sum(heads(cli).values())  # every event, once

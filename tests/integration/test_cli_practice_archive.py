"""`tpm practice export | verify-archive | import` as an operator runs them, in-process
against real local data dirs: the commands, their exit codes and what they print."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.operator_cli import OperatorCli, operator_cli

from tpm.cli import main

PASSPHRASE = "meadow-copper-lantern-27"


@pytest.fixture
def cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[OperatorCli]:
    monkeypatch.delenv("TPM_ARCHIVE_PASSPHRASE", raising=False)
    with operator_cli(tmp_path, monkeypatch, capsys) as cli:
        yield cli


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_export_verify_and_import_from_the_command_line(
    cli: OperatorCli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = tmp_path / "passphrase"
    secret.write_text(PASSPHRASE + "\n")
    archive = tmp_path / "demo.tpmx"
    # WHEN the operator exports the demo practice
    exported = cli("practice", "export", "--out", str(archive), "--passphrase-file", str(secret))
    assert exported.code == 0, exported.err
    assert f"exported to {archive}" in exported.out
    assert "audit chain verifies" in exported.out
    assert archive.stat().st_mode & 0o077 == 0  # owner-only
    # AND checks it offline, with nothing but the file and the passphrase
    code, out, err = run(capsys, "practice", "verify-archive", str(archive), "--passphrase-file", str(secret))  # fmt: skip
    assert code == 0, err
    assert "archive intact" in out
    # AND restores it into a new data dir
    restored = tmp_path / "restored"
    code, out, err = run(capsys, "practice", "import", str(archive), "--data-dir", str(restored), "--passphrase-file", str(secret))  # fmt: skip
    assert code == 0, err
    assert "imported: archive arc_" in out
    # THEN `tpm audit verify` finds the restored chain intact, and people can be listed
    code, out, err = run(capsys, "audit", "verify", "--data-dir", str(restored))
    assert code == 0, out + err
    assert "intact" in out
    code, out, err = run(capsys, "users", "list", "--data-dir", str(restored))
    assert code == 0, err
    assert "casey.clinician@example.test" in out
    # AND a second import is refused with a clear message and exit status 1
    code, out, err = run(capsys, "practice", "import", str(archive), "--data-dir", str(restored), "--passphrase-file", str(secret))  # fmt: skip
    assert code == 1
    assert "already holds data here" in err


def test_a_wrong_passphrase_is_one_clear_line(
    cli: OperatorCli,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    archive = tmp_path / "demo.tpmx"
    monkeypatch.setenv("TPM_ARCHIVE_PASSPHRASE", PASSPHRASE)
    assert cli("practice", "export", "--out", str(archive)).code == 0
    monkeypatch.setenv("TPM_ARCHIVE_PASSPHRASE", "another-passphrase-entirely")
    code, _, err = run(capsys, "practice", "verify-archive", str(archive))
    assert code == 1
    assert "archive_refused: The passphrase is wrong" in err
    # AND a short passphrase is refused before anything is written
    monkeypatch.setenv("TPM_ARCHIVE_PASSPHRASE", "short")
    result = cli("practice", "export", "--out", str(tmp_path / "other.tpmx"))
    assert result.code == 1
    assert "at least 12 characters" in result.err
    assert not (tmp_path / "other.tpmx").exists()

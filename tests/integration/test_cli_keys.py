"""`tpm keys rotate` from the command line: every data key re-wrapped, old data readable."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.operator_cli import OperatorCli, operator_cli

from tpm.local.demo import DEMO_PATIENT
from tpm.repositories.users import UserRepository


@pytest.fixture
def cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[OperatorCli]:
    with operator_cli(tmp_path, monkeypatch, capsys) as cli:
        yield cli


def test_rotate_rewraps_every_data_key_and_old_fields_still_open(cli: OperatorCli) -> None:
    first = cli("keys", "rotate")
    assert first.code == 0, first.err
    assert "master key is now" in first.out
    assert "practices        1" in first.out
    assert f"{cli.practice_id}: " in first.out
    rewrapped = int(first.out.split("re-wrapped")[1].split()[0])
    assert rewrapped > 0
    # THEN sealed fields written before the rotation still open (a fresh process's keys)
    with cli.practice() as (runtime, store):
        patient = UserRepository(store, runtime.cipher).find_by_email(DEMO_PATIENT.email)
    assert patient is not None
    assert patient.display_name == DEMO_PATIENT.display_name
    # AND a second rotation re-wraps the same keys again, onto yet another master key
    second = cli("keys", "rotate")
    assert second.code == 0, second.err
    assert second.out.splitlines()[0] != first.out.splitlines()[0]

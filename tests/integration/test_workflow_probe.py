"""The workflow probe through template.yaml: the real task function, loaded the way `tpm
dev` loads it, on the local runner; `tpm workflows probe/list/show` over a data dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.operator_cli import OperatorCli, operator_cli


@pytest.fixture
def cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[OperatorCli]:
    with operator_cli(tmp_path, monkeypatch, capsys) as cli:
        yield cli


def test_the_probe_runs_every_state_type_to_success(cli: OperatorCli) -> None:
    probe = cli("workflows", "probe")
    assert probe.code == 0, probe.err
    assert "SUCCEEDED" in probe.out
    execution_id = probe.out.split(":")[0]

    listed = cli("workflows", "list", "--workflow", "probe")
    assert execution_id in listed.out
    assert "SUCCEEDED" in listed.out

    shown = cli("workflows", "show", execution_id)
    assert shown.code == 0
    for event in (
        "RetryScheduled",
        "ParallelStarted",
        "MapStarted",
        "WaitStarted",
        "TaskScheduled",
        "CallbackSucceeded",
        "ExecutionSucceeded",
    ):
        assert event in shown.out
    with cli.runtime() as runtime:
        info = runtime.workflows.describe(cli.practice_id, execution_id)
    assert info.output == {"squares": [1, 4, 9], "callback": {"answer": "pong"}}


def test_unknown_execution_is_a_clean_error(cli: OperatorCli) -> None:
    shown = cli("workflows", "show", "wfx_nope")
    assert shown.code == 1
    assert "unknown_workflow" in shown.err

"""`tpm billing check` and `tpm billing read` on files as they arrive."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tpm.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "x12"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_check_a_clean_file(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "billing", "check", str(FIXTURES / "837p_two_claims.x12"))
    assert code == 0
    assert "valid 837P" in out


def test_check_prints_one_line_per_problem_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = (FIXTURES / "837p_two_claims.x12").read_text()
    bad = bad.replace("XX*1679576722", "XX*1679576720", 1).replace("02:B:1", "02:B:9")
    path = tmp_path / "bad.x12"
    # as files come: a byte-order mark and CRLF line ends
    path.write_bytes(b"\xef\xbb\xbf" + bad.replace("\n", "\r\n").encode())
    code, out, err = run(capsys, "billing", "check", str(path))
    assert code == 1
    assert "2 problem(s)" in err
    lines = out.strip().splitlines()
    assert len(lines) == 2
    loop, segment, element, message = lines[0].split("\t")
    assert (loop, segment, element) == ("2300", "CLM#21", "CLM05-3")
    assert "frequency" in message
    assert lines[1].split("\t")[:3] == ["2310B", "NM1#23", "NM109"]
    code, out, _ = run(capsys, "billing", "check", "--json", str(path))
    doc = json.loads(out)
    assert code == 1
    assert doc["valid"] is False
    assert len(doc["problems"]) == 2


def test_read_an_835(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "billing", "read", str(FIXTURES / "835_paid_and_denied.x12"))
    assert code == 0
    assert "claim PCN0001 status 1" in out
    assert "PLB L6 INTEREST -1.5" in out
    assert "file file: expected 146.5, actual 146.5: ok" in out
    assert "denial 200 -> PCN0003" in out
    code, out, _ = run(capsys, "billing", "read", "--json", str(FIXTURES / "835_unbalanced.x12"))
    doc = json.loads(out)
    assert code == 0
    assert doc["kind"] == "835"
    assert doc["balanced"] is False
    assert [b["level"] for b in doc["balancing"] if not b["ok"]] == ["file"]


def test_read_999_and_277ca(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "billing", "read", str(FIXTURES / "999_accepted.x12"))
    assert code == 0
    assert "transaction 837 0001: A" in out
    code, out, _ = run(capsys, "billing", "read", "--json", str(FIXTURES / "277ca_mixed.x12"))
    doc = json.loads(out)
    assert [c["claim_id"] for c in doc["claims"]] == ["PCN0001", "PCN0002"]


def test_read_refuses_an_837_and_non_x12(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "billing", "read", str(FIXTURES / "837p_two_claims.x12"))
    assert code == 1
    assert "use `check`" in err
    junk = tmp_path / "junk.txt"
    junk.write_text("not x12")
    code, _, err = run(capsys, "billing", "read", str(junk))
    assert code == 1
    assert "ISA" in err

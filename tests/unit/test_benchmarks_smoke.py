"""The benchmark harness runs and reports sane figures (so it cannot rot between runs).

Minimal sizes: this checks the plumbing, not the numbers.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `pytest` (unlike `python -m pytest`) leaves the cwd off
    sys.path.insert(0, str(ROOT))

from benchmarks import cold_init, gateway_roundtrip, import_profile, run  # noqa: E402
from benchmarks.common import Figure, Options, Outcome, Stats  # noqa: E402


def assert_positive(stats: Stats | None) -> None:
    assert stats is not None
    assert stats.n > 0
    assert 0 < stats.minimum <= stats.median <= stats.p95
    assert stats.mean > 0


def test_gateway_against_store_reports_every_part() -> None:
    outcome = gateway_roundtrip.measure(ROOT, calls=20, warmup=2)

    assert outcome.failures == []
    subjects = [f.subject for f in outcome.figures]
    assert subjects[0] == "LocalGateway.dispatch GET /v1/health"
    assert any("Lambda handler" in s for s in subjects)
    for figure in outcome.figures:
        assert figure.unit == "µs"
        assert_positive(figure.measured)
        assert_positive(figure.baseline)
        assert figure.ratio is not None
        assert figure.ratio > 0
    assert outcome.figures[0].verdict in ("PASS", "OVER")
    # The request log lines went into the counting sink, not the terminal.
    assert outcome.details["log_lines"] >= 20


def test_cold_init_of_the_platform_function() -> None:
    outcome = cold_init.measure(ROOT, repeats=1, warmup=0, names=["PlatformFunction"])

    assert outcome.failures == []
    (figure,) = outcome.figures
    assert figure.subject == "PlatformFunction"
    assert figure.unit == "ms"
    assert_positive(figure.measured)
    assert_positive(figure.baseline)
    assert figure.target == cold_init.TARGET_RATIO


def test_a_handler_that_cannot_import_is_a_failure_not_a_figure(tmp_path: Path) -> None:
    broken = cold_init.Subject("Broken", tmp_path, "app", "lambda_handler", {})
    (tmp_path / "app.py").write_text("import module_that_does_not_exist\n", encoding="utf-8")

    with pytest.raises(cold_init.InitFailed, match="Broken: exit 1"):
        cold_init.time_init(sys.executable, broken, cold_init.child_env(ROOT, {}, tmp_path))


def test_unknown_function_name_is_refused() -> None:
    with pytest.raises(ValueError, match="NoSuchFunction"):
        cold_init.subjects(ROOT, ["NoSuchFunction"])


def test_import_profile_finds_who_pulls_in_a_package() -> None:
    stderr = "\n".join(
        [
            "import time: self [us] | cumulative | imported package",
            "import time:      3000 |       9000 |       pydantic.main",
            "import time:      1000 |      10000 |     pydantic",
            "import time:       500 |      10500 |   tpm.config",
            "import time:       200 |      10700 | app",
        ]
    )
    costs = import_profile.parse(stderr)

    assert [c.module for c in costs] == ["pydantic.main", "pydantic", "tpm.config", "app"]
    assert costs[-1].children[0].module == "tpm.config"
    lines = import_profile.explain("app", costs, baseline=[])
    assert any("tpm.config -> pydantic: 10.0 ms" in line for line in lines)
    assert any("pydantic +4.0 ms (new)" in line for line in lines)


def test_over_target_is_a_verdict_and_results_are_written(tmp_path: Path) -> None:
    slow = Figure("x", "ms", Stats.of([4.0]), Stats.of([1.0]), "base", target=3.0)
    fine = Figure("y", "ms", Stats.of([2.0]), Stats.of([1.0]), "base", target=3.0)
    outcome = Outcome("demo", figures=[slow, fine])

    table = run.render([outcome])
    out = tmp_path / "latest.json"
    run.write_results(out, [outcome], Options(quick=True))

    assert (slow.verdict, fine.verdict) == ("OVER", "PASS")
    assert "4.00x" in table
    assert "OVER" in table
    saved = json.loads(out.read_text(encoding="utf-8"))
    assert saved["quick"] is True
    assert saved["machine"]["cpu_count"] > 0
    assert saved["benchmarks"]["demo"]["figures"][0]["ratio"] == 4.0


def test_staff_bundle_follows_static_imports_and_lists_lazy_screens() -> None:
    from benchmarks import staff_bundle

    outcome = staff_bundle.benchmark(Options(root=ROOT))
    assert outcome.failures == []
    initial = outcome.figures[0]
    assert initial.subject.startswith("staff app initial JS")
    # the shell is measured (the shared client among it) and screens load on first use
    assert 1 < initial.measured.median <= staff_bundle.BUDGET_KB
    assert initial.verdict == "PASS"
    lazy = outcome.details["lazy_kb"]
    assert "staff/js/screens/patients/search.js" in lazy
    assert all(kb >= 0 for kb in lazy.values())


def test_audit_throughput_reports_every_backend_and_client_count() -> None:
    from benchmarks import audit_throughput

    outcome = audit_throughput.measure(
        clients=(1, 2), per_client=2, backends=("sqlite", "dynamodb"), shards=(1, 4)
    )

    assert outcome.failures == []
    runs = outcome.details["runs"]
    assert [(r["backend"], r["shards"], r["clients"]) for r in runs] == [
        ("sqlite", 1, 1), ("sqlite", 1, 2), ("sqlite", 4, 1), ("sqlite", 4, 2),
        ("dynamodb", 1, 1), ("dynamodb", 1, 2), ("dynamodb", 4, 1), ("dynamodb", 4, 2),
    ]  # fmt: skip
    assert all(r["requests"] == 2 * r["clients"] for r in runs)
    assert all(r["rps"] > 0 for r in runs)
    for figure in outcome.figures:
        assert_positive(figure.measured)
        assert_positive(figure.baseline)
    assert len(outcome.notes) == 8
    assert all("the req/s of one shard" in note for note in outcome.notes if " 4 shard" in note)

"""`tpm compliance report`: a requirement is met only when every test naming it passed in
the run; a missing, failed, skipped or absent test is a gap; output is deterministic; the
catalogue names only tests that exist."""

from __future__ import annotations

import ast
from pathlib import Path

from tpm.services.compliance_report import (
    Requirement,
    Result,
    Status,
    build_report,
    junit_results,
    load_requirements,
    render_html,
    render_markdown,
    render_pdf,
)

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="5">
<testcase classname="tests.unit.test_a" name="test_ok" time="0.1"/>
<testcase classname="tests.unit.test_a" name="test_param[1]" time="0.1"/>
<testcase classname="tests.unit.test_a" name="test_param[2]" time="0.1">
  <failure message="boom">trace</failure></testcase>
<testcase classname="tests.unit.test_a" name="test_skipped" time="0.0">
  <skipped message="no browser"/></testcase>
<testcase classname="tests.unit.test_b.TestThing" name="test_in_class" time="0.1"/>
</testsuite></testsuites>
"""


def req(rid: str, *tests: str) -> Requirement:
    return Requirement(id=rid, title=rid, control="c", where=(), tests=tests)


def test_a_requirement_without_a_passing_test_is_a_gap(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_text(JUNIT, encoding="utf-8")
    results = junit_results(junit)
    assert results == {
        "tests/unit/test_a.py::test_ok": Result.PASSED,
        "tests/unit/test_a.py::test_param": Result.FAILED,
        "tests/unit/test_a.py::test_skipped": Result.SKIPPED,
        "tests/unit/test_b.py::TestThing::test_in_class": Result.PASSED,
    }
    report = build_report(
        [
            req(
                "met",
                "tests/unit/test_a.py::test_ok",
                "tests/unit/test_b.py::TestThing::test_in_class",
            ),
            req("none"),
            req("failed", "tests/unit/test_a.py::test_ok", "tests/unit/test_a.py::test_param"),
            req("skipped", "tests/unit/test_a.py::test_skipped"),
            req("absent", "tests/unit/test_a.py::test_never_ran"),
        ],
        results,
    )
    assert [(r.requirement.id, r.status) for r in report.rows] == [
        ("met", Status.MET),
        ("none", Status.GAP),
        ("failed", Status.GAP),
        ("skipped", Status.GAP),
        ("absent", Status.GAP),
    ]
    assert report.rows[4].why == "test_never_ran: not run"
    assert (report.met, report.gaps) == (1, 4)
    # deterministic: the same inputs give the same bytes
    assert render_html(report) == render_html(report)
    assert render_pdf(report) == render_pdf(report)
    assert render_pdf(report).startswith(b"%PDF-")
    assert "**GAP** (no test proves it)" in render_markdown(report)
    assert "<script" not in render_html(build_report([req("<script>x</script>")], results)).replace(
        "&lt;script", ""
    )


def test_the_catalogue_covers_the_rules_and_names_only_real_tests(project_root: Path) -> None:
    requirements = load_requirements()
    ids = {r.id for r in requirements}
    assert {"164.524", "164.526", "164.528", "164.308(b)(1)", "164.314(a)(1)"} <= ids
    assert {f"170.315(d)({n})" for n in range(1, 14)} <= ids
    assert any(i.startswith("164.310") for i in ids)
    assert any(i.startswith("164.316") for i in ids)
    for requirement in requirements:
        for node in requirement.tests:
            path, _, name = node.partition("::")
            source = project_root / path
            assert source.is_file(), node
            names = {
                n.name
                for n in ast.walk(ast.parse(source.read_text(encoding="utf-8")))
                if isinstance(n, ast.FunctionDef)
            }
            assert name.split("::")[-1] in names, node
        for where in requirement.where:
            assert (project_root / where).exists(), where

"""`tpm compliance report`: each requirement (tpm/compliance/requirements.yaml), its control,
where it is implemented, and the tests that prove it with their result in a test run
(read from pytest's JUnit XML) — as HTML, PDF and Markdown.

A requirement is MET only when it names at least one test and every one of them passed in
the run (every case of a parametrized test). Anything else is a GAP: no test named, a test
that failed, errored or was skipped, or a test the run did not contain. There is no third
state and no manual override: an unproven control is a gap.

The output depends only on the catalogue and the results of the tests it names (no clock,
no host name, no count of other tests), so a green run leaves the committed copy unchanged
until a requirement or one of its tests changes. The JUnit file is our own test run's,
parsed with the standard library.
"""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

import yaml


class Result(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    MISSING = "not run"


class Status(StrEnum):
    MET = "met"
    GAP = "gap"


@dataclass(frozen=True)
class Requirement:
    id: str
    title: str
    control: str
    where: tuple[str, ...]
    tests: tuple[str, ...]
    shared: bool = False


@dataclass(frozen=True)
class Row:
    requirement: Requirement
    status: Status
    results: tuple[tuple[str, Result], ...]

    @property
    def why(self) -> str:
        if self.status is Status.MET:
            return f"{len(self.results)} test(s) passed"
        if not self.results:
            return "no test proves it" + (
                " (AWS shared responsibility)" if self.requirement.shared else ""
            )
        bad = [f"{t.split('::')[-1]}: {r.value}" for t, r in self.results if r is not Result.PASSED]
        return "; ".join(bad)


@dataclass(frozen=True)
class Report:
    rows: tuple[Row, ...]
    tests_in_run: int

    @property
    def met(self) -> int:
        return sum(r.status is Status.MET for r in self.rows)

    @property
    def gaps(self) -> int:
        return len(self.rows) - self.met


def load_requirements(path: Path | None = None) -> list[Requirement]:
    text = (
        path.read_text(encoding="utf-8")
        if path is not None
        else resources.files("tpm.compliance").joinpath("requirements.yaml").read_text("utf-8")
    )
    data = yaml.safe_load(text)
    found = []
    for item in data["requirements"]:
        found.append(
            Requirement(
                id=str(item["id"]),
                title=str(item["title"]),
                control=str(item["control"]),
                where=tuple(item.get("where") or ()),
                tests=tuple(item.get("tests") or ()),
                shared=bool(item.get("shared", False)),
            )
        )
    ids = [r.id for r in found]
    if len(ids) != len(set(ids)):
        raise ValueError("a requirement is listed twice")
    return found


def junit_results(path: Path) -> dict[str, Result]:
    """pytest JUnit XML -> {"tests/x/test_y.py::test_z": result}. Parametrized cases of one
    test fold into one result: passed only if every case passed."""
    tree = ET.parse(path)  # noqa: S314 - see the module docstring
    cases: dict[str, list[Result]] = defaultdict(list)
    for case in tree.iter("testcase"):
        classname = case.get("classname", "")
        name = case.get("name", "").split("[", 1)[0]
        node = _node_id(classname, name)
        if case.find("failure") is not None or case.find("error") is not None:
            cases[node].append(Result.FAILED)
        elif case.find("skipped") is not None:
            cases[node].append(Result.SKIPPED)
        else:
            cases[node].append(Result.PASSED)
    folded: dict[str, Result] = {}
    for node, results in cases.items():
        if Result.FAILED in results:
            folded[node] = Result.FAILED
        elif all(r is Result.PASSED for r in results):
            folded[node] = Result.PASSED
        elif Result.PASSED in results:
            folded[node] = Result.PASSED  # some cases skipped by design, none failed
        else:
            folded[node] = Result.SKIPPED
    return folded


def _node_id(classname: str, name: str) -> str:
    """`tests.integration.test_x` + `test_y` -> `tests/integration/test_x.py::test_y`; a
    test in a class (`...test_x.TestA`) keeps the class."""
    parts = classname.split(".")
    for i in range(len(parts), 0, -1):
        if parts[i - 1].startswith("test_"):
            module = "/".join(parts[:i]) + ".py"
            rest = parts[i:]
            return "::".join([module, *rest, name])
    return f"{classname}::{name}"


def build_report(requirements: list[Requirement], results: dict[str, Result]) -> Report:
    rows = []
    for requirement in requirements:
        seen = tuple((t, results.get(t, Result.MISSING)) for t in requirement.tests)
        met = bool(seen) and all(r is Result.PASSED for _, r in seen)
        rows.append(Row(requirement, Status.MET if met else Status.GAP, seen))
    return Report(tuple(rows), len(results))


# ---- rendering ------------------------------------------------------------------------------

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#0b0c0c;max-width:75rem}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #b1b4b6;padding:.4rem;
vertical-align:top;text-align:left}th{background:#f3f2f1}.met{color:#00703c;font-weight:700}
.gap{color:#d4351c;font-weight:700}code{font-size:.85em}ul{margin:0;padding-left:1.1rem}
"""


def render_html(report: Report) -> str:
    e = html.escape
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>tpm compliance report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>tpm compliance report</h1>",
        f"<p>{report.met} of {len(report.rows)} requirements met; <strong>{report.gaps}"
        " gap(s)</strong>. Generated by <code>tpm compliance report</code> from the test"
        " run's JUnit XML. A requirement is met only when every test that proves it passed;"
        " anything else is a gap.</p>",
        "<table><thead><tr><th>requirement</th><th>status</th><th>control</th>"
        "<th>implemented in</th><th>tests (result)</th></tr></thead><tbody>",
    ]
    for row in report.rows:
        r = row.requirement
        where = "".join(f"<li><code>{e(w)}</code></li>" for w in r.where) or "—"
        tests = (
            "".join(f"<li><code>{e(t)}</code> ({e(res.value)})</li>" for t, res in row.results)
            or "—"
        )
        out.append(
            f'<tr id="{e(r.id)}"><td><strong>{e(r.id)}</strong><br>{e(r.title)}</td>'
            f'<td class="{row.status.value}">{row.status.value.upper()}<br>'
            f"<small>{e(row.why)}</small></td><td>{e(r.control)}</td>"
            f"<td><ul>{where}</ul></td><td><ul>{tests}</ul></td></tr>"
        )
    out.append("</tbody></table></body></html>")
    return "\n".join(out) + "\n"


def render_markdown(report: Report) -> str:
    lines = [
        "# Compliance report",
        "",
        "<!-- generated by `tpm compliance report`; do not edit by hand -->",
        "",
        f"{report.met} of {len(report.rows)} requirements met; **{report.gaps} gap(s)**."
        " A requirement is met only when every test that proves it passed.",
        "",
        "| requirement | status | control | tests |",
        "|---|---|---|---|",
    ]
    for row in report.rows:
        r = row.requirement
        tests = ", ".join(f"`{t}` ({res.value})" for t, res in row.results) or "—"
        lines.append(
            f"| {r.id} {r.title} | **{row.status.value.upper()}** ({row.why}) |"
            f" {r.control} | {tests} |"
        )
    return "\n".join(lines) + "\n"


def render_pdf(report: Report) -> bytes:
    from fpdf import FPDF  # ~150 ms to import: for PDFs only

    pdf = FPDF(orientation="L", format="Letter")
    pdf.set_creation_date(_EPOCH)  # deterministic output: no "now" in the file
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 8, "tpm compliance report", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    pdf.multi_cell(
        0,
        5,
        _latin(
            f"{report.met} of {len(report.rows)} requirements met; {report.gaps} gap(s)."
            " A requirement is met only when every test that proves it passed."
        ),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    for row in report.rows:
        r = row.requirement
        pdf.ln(2)
        pdf.set_font("Helvetica", "B", 9)
        colour = (0, 112, 60) if row.status is Status.MET else (212, 53, 28)
        pdf.set_text_color(*colour)
        pdf.multi_cell(
            0,
            5,
            _latin(f"{r.id} {r.title}: {row.status.value.upper()} ({row.why})"),
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.set_text_color(0, 0, 0)
        pdf.set_font("Helvetica", "", 8)
        pdf.multi_cell(0, 4, _latin(f"Control: {r.control}"), new_x="LMARGIN", new_y="NEXT")
        for test, result in row.results:
            pdf.multi_cell(
                0, 4, _latin(f"  - {test} ({result.value})"), new_x="LMARGIN", new_y="NEXT"
            )
    return bytes(pdf.output())


def _latin(text: str) -> str:
    return text.replace("\u2014", "-").encode("latin-1", "replace").decode("latin-1")


def write_report(report: Report, out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "html": out_dir / "compliance-report.html",
        "pdf": out_dir / "compliance-report.pdf",
        "md": out_dir / "compliance-report.md",
    }
    paths["html"].write_text(render_html(report), encoding="utf-8")
    paths["pdf"].write_bytes(render_pdf(report))
    paths["md"].write_text(render_markdown(report), encoding="utf-8")
    return paths


def as_dict(report: Report) -> dict[str, Any]:
    return {
        "met": report.met,
        "gaps": report.gaps,
        "requirements": [
            {"id": row.requirement.id, "status": row.status.value, "why": row.why}
            for row in report.rows
        ],
    }

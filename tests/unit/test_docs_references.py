"""The docs cite tests as proof (`tests/…py::test_name`). Every citation must name a test
file that exists and a test function it defines, so a renamed or deleted test cannot leave
a claim standing on nothing."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

REFERENCE = re.compile(r"(tests/[A-Za-z0-9_/.-]+?\.py)(?:::([A-Za-z_][A-Za-z0-9_]*))?")
HIPAA_BEGIN, HIPAA_END = "<!-- hipaa:begin -->", "<!-- hipaa:end -->"
# 45 CFR 164.312: every standard and implementation specification.
HIPAA_SPECS = (
    "(a)(1)",
    "(a)(2)(i)",
    "(a)(2)(ii)",
    "(a)(2)(iii)",
    "(a)(2)(iv)",
    "(b)",
    "(c)(1)",
    "(c)(2)",
    "(d)",
    "(e)(1)",
    "(e)(2)(i)",
    "(e)(2)(ii)",
)


@cache
def defined_tests(path: Path) -> frozenset[str]:
    """Names pytest would collect as tests: module-level functions and methods of Test*
    classes whose names start with test."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found.add(node.name)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            found |= {
                n.name for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
            }
    return frozenset(name for name in found if name.startswith("test"))


def broken_references(text: str, root: Path) -> list[str]:
    problems = []
    for match in REFERENCE.finditer(text):
        file, name = match.group(1), match.group(2)
        path = root / file
        if not path.is_file():
            problems.append(f"{file}: no such file")
        elif name is not None and name not in defined_tests(path):
            problems.append(f"{file}::{name}: no such test function")
    return problems


def doc_files(root: Path) -> list[Path]:
    return sorted((root / "docs").rglob("*.md"))


def test_docs_exist_and_cite_tests(project_root: Path) -> None:
    cited = [
        m.group(0)
        for doc in doc_files(project_root)
        for m in REFERENCE.finditer(doc.read_text(encoding="utf-8"))
        if m.group(2)
    ]
    # The scan must see the proofs the security docs rest on, or it proves nothing.
    assert len(set(cited)) >= 30, cited


@pytest.mark.parametrize(
    "doc",
    [pytest.param(p, id=p.name) for p in doc_files(Path(__file__).resolve().parents[2])],
)
def test_every_cited_test_exists(doc: Path, project_root: Path) -> None:
    assert broken_references(doc.read_text(encoding="utf-8"), project_root) == []


def test_a_broken_reference_is_reported(project_root: Path) -> None:
    text = (
        "proof: `tests/unit/test_mfa.py::test_a_used_code_cannot_be_replayed`,"
        " `tests/unit/test_mfa.py::test_that_was_renamed`,"
        " `tests/unit/test_gone.py::test_anything` and `tests/unit/test_gone_too.py`"
    )
    assert broken_references(text, project_root) == [
        "tests/unit/test_mfa.py::test_that_was_renamed: no such test function",
        "tests/unit/test_gone.py: no such file",
        "tests/unit/test_gone_too.py: no such file",
    ]


def test_helpers_and_fixtures_are_not_tests(tmp_path: Path) -> None:
    module = tmp_path / "test_sample.py"
    module.write_text(
        "def helper(): ...\n"
        "def test_top(): ...\n"
        "class TestGroup:\n    def test_inner(self): ...\n    def setup(self): ...\n"
        "class Other:\n    def test_hidden(self): ...\n",
        encoding="utf-8",
    )
    assert defined_tests(module) == {"test_top", "test_inner"}


def test_every_164_312_specification_names_a_proving_test(project_root: Path) -> None:
    text = (project_root / "docs/security/access-control.md").read_text(encoding="utf-8")
    assert text.count(HIPAA_BEGIN) == 1
    assert text.count(HIPAA_END) == 1
    table = text.split(HIPAA_BEGIN, 1)[1].split(HIPAA_END, 1)[0]
    rows = {
        cells[0]: cells
        for line in table.splitlines()
        if line.startswith("| (")
        for cells in [[c.strip() for c in line.strip("|").split("|")]]
    }
    assert list(rows) == list(HIPAA_SPECS)
    for spec, cells in rows.items():
        how, proof = cells[2], cells[3]
        assert how, f"{spec}: say how tpm meets it"
        cited = [m for m in REFERENCE.finditer(proof) if m.group(2)]
        assert cited, f"{spec}: name at least one test that proves it"

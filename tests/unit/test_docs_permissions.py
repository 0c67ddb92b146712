"""docs/security/access-control.md shows the permission table the code enforces: the table
between its markers is regenerated from permissions.yaml here, and a stale doc fails."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tpm.security import permissions_doc
from tpm.security.permissions_doc import (
    BEGIN,
    END,
    NO_ACCESS,
    main,
    render_permissions_markdown,
    replace_generated,
    role_columns,
)
from tpm.security.policy import PermissionTable, Scope, parse_table, permission_table
from tpm.security.principal import Role

DOC = Path("docs/security/access-control.md")


def doc_path(project_root: Path) -> Path:
    return project_root / DOC


def parse_rendered(
    markdown: str,
) -> tuple[list[str], dict[str, bool], dict[str, dict[Role, set[str]]]]:
    """The rendered table read back: action order, PHI flags, role -> scope names."""
    rows = [line for line in markdown.splitlines() if line.startswith("| ")]
    header = [cell.strip().strip("`") for cell in rows[0].strip("|").split("|")]
    assert header[:2] == ["action", "PHI"]
    roles = [Role(name) for name in header[2:]]
    order: list[str] = []
    phi: dict[str, bool] = {}
    grants: dict[str, dict[Role, set[str]]] = {}
    for row in rows[1:]:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        action = cells[0].strip("`")
        order.append(action)
        phi[action] = cells[1] == "yes"
        grants[action] = {
            role: set() if cell == NO_ACCESS else {s.strip() for s in cell.split(",")}
            for role, cell in zip(roles, cells[2:], strict=True)
        }
    return order, phi, grants


def expected_grants(table: PermissionTable) -> dict[str, dict[Role, set[str]]]:
    return {
        action: {
            role: {s.value for s in table.grants.get(role, {}).get(action, frozenset())}
            for role in Role
        }
        for action in table.actions
    }


def test_access_control_doc_matches_permissions_yaml(project_root: Path) -> None:
    current = doc_path(project_root).read_text(encoding="utf-8")
    assert current == replace_generated(current, render_permissions_markdown()), (
        "docs/security/access-control.md is stale: run "
        "python -m tpm.security.permissions_doc --write docs/security/access-control.md"
    )


def test_rendered_table_reads_back_as_the_enforced_table() -> None:
    table = permission_table()
    order, phi, grants = parse_rendered(render_permissions_markdown())
    assert order == list(table.actions)
    assert phi == {name: spec.phi for name, spec in table.actions.items()}
    assert grants == expected_grants(table)


def test_render_follows_the_table_it_is_given() -> None:
    # GIVEN a small table unlike the shipped one
    table = parse_table(
        {
            "actions": {
                "note.sign": {"kind": "note", "phi": True},
                "note.list": {"kind": "note", "phi": False},
            },
            "roles": {
                "clinician": {"note.sign": ["care_team"], "note.list": ["self", "care_team"]},
                "supervisor": {"note.list": ["supervisees"]},
            },
        }
    )
    # WHEN it is rendered THEN it reads back exactly, scopes in a fixed order
    rendered = render_permissions_markdown(table)
    order, phi, grants = parse_rendered(rendered)
    assert order == ["note.sign", "note.list"]
    assert phi == {"note.sign": True, "note.list": False}
    assert grants == expected_grants(table)
    assert "| `note.list` |  | — | — | — | care_team, self | supervisees |" in rendered


def test_every_role_is_a_column_and_described_in_the_roles_section(project_root: Path) -> None:
    assert set(role_columns()) == set(Role)
    text = doc_path(project_root).read_text(encoding="utf-8")
    roles_section = text.split("## Roles", 1)[1].split("\n## ", 1)[0]
    described = set(re.findall(r"^\| `([a-z_]+)` \|", roles_section, flags=re.MULTILINE))
    assert described == {r.value for r in Role}


def test_scopes_are_rendered_in_a_fixed_order() -> None:
    assert set(permissions_doc.SCOPE_ORDER) == set(Scope)


@pytest.mark.parametrize(
    "document",
    [
        "no markers at all",
        f"{BEGIN}\nonly the start",
        f"only the end\n{END}",
        f"{END}\nreversed\n{BEGIN}",
        f"{BEGIN}\n{BEGIN}\n{END}",
    ],
    ids=["none", "no-end", "no-begin", "reversed", "duplicated"],
)
def test_replacing_needs_exactly_one_pair_of_markers_in_order(document: str) -> None:
    with pytest.raises(ValueError, match="permissions"):
        replace_generated(document, "| table |\n")


def test_replacing_keeps_everything_outside_the_markers() -> None:
    document = f"intro\n{BEGIN}\nold table\n{END}\noutro\n"
    assert replace_generated(document, "new table\n") == (
        f"intro\n{BEGIN}\nnew table\n{END}\noutro\n"
    )


def test_check_reports_a_stale_doc_and_write_repairs_it(
    project_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a copy of the doc whose table someone edited by hand
    original = doc_path(project_root).read_text(encoding="utf-8")
    stale = original.replace("| `patient.read` | yes |", "| `patient.read` | no |", 1)
    assert stale != original
    copy = tmp_path / "access-control.md"
    copy.write_text(stale, encoding="utf-8")
    # WHEN it is checked THEN it is reported stale, and checking changes nothing
    assert main(["--check", str(copy)]) == 1
    assert "stale" in capsys.readouterr().err
    assert copy.read_text(encoding="utf-8") == stale
    # WHEN it is written THEN it is the committed doc again, and checks clean
    assert main(["--write", str(copy)]) == 0
    assert copy.read_text(encoding="utf-8") == original
    assert main(["--check", str(copy)]) == 0


def test_the_module_runs_as_a_script(project_root: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tpm.security.permissions_doc", "--check", str(DOC)],
        cwd=project_root,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr

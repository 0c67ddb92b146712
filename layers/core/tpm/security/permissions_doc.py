"""The permission table (permissions.yaml merged with permissions.d/*.yaml, exactly as
`tpm.security.policy.permission_table` enforces it) as Markdown, for
docs/security/access-control.md.

The doc holds the rendered table between two markers; tests/unit/test_docs_permissions.py
re-renders it and fails when the doc is stale, so the doc always shows the table the code
enforces. To refresh the doc after changing a permission file:

    python -m tpm.security.permissions_doc --write docs/security/access-control.md
    python -m tpm.security.permissions_doc --check docs/security/access-control.md
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from tpm import generated_docs
from tpm.security.policy import PermissionTable, Scope, permission_table
from tpm.security.principal import Role

BEGIN: Final = "<!-- permissions:begin -->"
END: Final = "<!-- permissions:end -->"
NO_ACCESS: Final = "—"

# Columns read from most to least privileged; a role added to `Role` later is appended.
ROLE_ORDER: Final = (
    Role.OWNER,
    Role.ADMIN,
    Role.COMPLIANCE,
    Role.CLINICIAN,
    Role.SUPERVISOR,
    Role.BILLER,
    Role.FRONT_DESK,
    Role.PATIENT,
    Role.PROXY,
)
SCOPE_ORDER: Final = (Scope.PRACTICE, Scope.CARE_TEAM, Scope.SUPERVISEES, Scope.SELF, Scope.PROXY)


def role_columns() -> list[Role]:
    return [*ROLE_ORDER, *(r for r in Role if r not in ROLE_ORDER)]


def render_permissions_markdown(table: PermissionTable | None = None) -> str:
    """One row per action (in file order), one column per role; a cell names the scopes
    through which the role reaches records, or "—" when it lacks the action."""
    table = table or permission_table()
    roles = role_columns()
    lines = [
        "<!-- generated from layers/core/tpm/security/permissions.yaml (+ permissions.d/) by"
        " `python -m tpm.security.permissions_doc --write docs/security/access-control.md`;"
        " do not edit by hand -->",
        "",
        "| action | PHI | " + " | ".join(f"`{r.value}`" for r in roles) + " |",
        "|---|---|" + "---|" * len(roles),
    ]
    for name, spec in table.actions.items():
        cells = [_cell(table.grants.get(role, {}).get(name, frozenset())) for role in roles]
        phi = "yes" if spec.phi else ""
        lines.append(f"| `{name}` | {phi} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(scopes: frozenset[Scope]) -> str:
    if not scopes:
        return NO_ACCESS
    return ", ".join(s.value for s in SCOPE_ORDER if s in scopes)


def replace_generated(document: str, rendered: str) -> str:
    """`document` with the text between this doc's markers replaced by `rendered`."""
    return generated_docs.replace_generated(document, rendered, BEGIN, END)


def main(argv: Sequence[str] | None = None) -> int:
    return generated_docs.run(
        argv,
        prog="python -m tpm.security.permissions_doc",
        description="Render permissions.yaml as the access-control doc's table.",
        render=render_permissions_markdown,
        begin=BEGIN,
        end=END,
    )


if __name__ == "__main__":
    raise SystemExit(main())

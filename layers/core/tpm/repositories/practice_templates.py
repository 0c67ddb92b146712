"""Stored shape of a practice's own clinical templates (no PHI: administrative config).

TEMPLATE#<id>  V#<version:06d>  one template version: its full definition as JSON text,
                                written with Absent and never updated (gsi1: TEMPLATES /
                                <id>#<version:06d>, so the practice's templates list in one
                                query)

The definition is kept as JSON text, not as nested attributes: a JSON Schema may hold
floats (which the item store refuses) and must come back exactly as it was saved.
"""

from __future__ import annotations

import json

from tpm.adapters.store.base import Absent, Item, PracticeStore, Put, iterate
from tpm.domain.template_models import Template

_LIST = "TEMPLATES"


def _pk(template_id: str) -> str:
    return f"TEMPLATE#{template_id}"


def _sk(version: int) -> str:
    return f"V#{version:06d}"


class PracticeTemplateRepository:
    def __init__(self, store: PracticeStore) -> None:
        self.store = store

    def get(self, template_id: str, version: int) -> Template | None:
        item = self.store.get(_pk(template_id), _sk(version))
        return None if item is None else _template(item)

    def latest(self, template_id: str) -> Template | None:
        page = self.store.query(_pk(template_id), sk_prefix="V#", limit=1, descending=True)
        return _template(page.items[0]) if page.items else None

    def all_versions(self) -> list[Template]:
        """Every version of every practice template, by id then version."""
        return [_template(i) for i in iterate(self.store, _LIST, index="gsi1")]

    @staticmethod
    def create_op(template: Template) -> Put:
        """Write a version once; a second write of the same id and version fails."""
        return Put(
            {
                "pk": _pk(template.id),
                "sk": _sk(template.version),
                "gsi1pk": _LIST,
                "gsi1sk": f"{template.id}#{template.version:06d}",
                "template_id": template.id,
                "template_version": template.version,
                "definition": json.dumps(template.definition(), sort_keys=True),
            },
            Absent(),
        )


def _template(item: Item) -> Template:
    # Validated on save; stored versions are trusted as written (no re-check per read).
    return Template.model_validate(json.loads(str(item["definition"])))

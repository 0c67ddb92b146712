"""Clinical templates as data: the library, lookups, practice clones. Pure apart from
reading the packaged definition files (static data shipped inside the tpm package).

The built-in library lives in tpm/templates/<id>/<version>.json (schemas/templates links
there). A template is never edited in place: a change is a new version, so a note keeps
pointing at the exact definition it was written with. The public API for the rest of the
system is re-exported here.

    library = builtin_library()
    phq9 = library.latest("phq9")
    errors = validate_content(phq9, content)                # [] or FieldErrors
    result = score(phq9, content["answers"])                 # Score(total, band, flags)
    missing = missing_at_signing(note_template, content)    # ["/plan/plan", …]
    mine = clone(library.latest("progress_note_soap"), "soap_brief", {"title": "…"})
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, Final

from tpm.domain.template_models import (
    Band,
    Category,
    FieldError,
    FlagRule,
    LayoutSection,
    Option,
    Score,
    Scoring,
    Template,
    TemplateRef,
)
from tpm.domain.template_scoring import score
from tpm.domain.template_validation import (
    check_template_definition,
    missing_at_signing,
    validate_content,
)
from tpm.errors import NotFound, ValidationFailed

__all__ = [
    "Band",
    "Category",
    "FieldError",
    "FlagRule",
    "LayoutSection",
    "Option",
    "Score",
    "Scoring",
    "Template",
    "TemplateLibrary",
    "TemplateRef",
    "builtin_library",
    "check_template_definition",
    "clone",
    "missing_at_signing",
    "new_version",
    "parse_template",
    "score",
    "validate_content",
]

# What a clone or a new version may change. Everything else (id, version, category,
# scoring, source, licence) is fixed by the operation or by the original.
EDITABLE: Final = frozenset(
    {"title", "description", "cpt_codes", "required_at_signing", "layout", "schema", "instructions"}
)
# Scored instruments keep their items and scoring: licences (e.g. "copied in full",
# no derivatives) and comparability of scores both forbid changing them.
EDITABLE_INSTRUMENT: Final = frozenset({"title", "description", "cpt_codes", "instructions"})


def parse_template(raw: Mapping[str, Any]) -> Template:
    """A template from its definition, or ValidationFailed listing every problem."""
    errors = check_template_definition(raw)
    if errors:
        raise ValidationFailed(
            "The template definition is invalid.", errors=[e.model_dump() for e in errors]
        )
    return Template.model_validate(raw)


def clone(template: Template, new_id: str, changes: Mapping[str, Any] | None = None) -> Template:
    """A practice's own template derived from `template`: version 1 of `new_id`, with
    `changes` applied and the whole definition checked as if it were new."""
    raw = _changed(template, changes or {})
    raw |= {"id": new_id, "version": 1, "derived_from": template.ref.model_dump()}
    return parse_template(raw)


def new_version(template: Template, changes: Mapping[str, Any]) -> Template:
    """The next version of the same template; the old version stays as it was."""
    raw = _changed(template, changes)
    raw["version"] = template.version + 1
    return parse_template(raw)


def _changed(template: Template, changes: Mapping[str, Any]) -> dict[str, Any]:
    allowed = EDITABLE_INSTRUMENT if template.scoring is not None else EDITABLE
    refused = sorted(set(changes) - allowed)
    if refused:
        raise ValidationFailed(
            "These template fields cannot be changed.",
            errors=[
                FieldError(path=f"/{name}", type="not_editable").model_dump() for name in refused
            ],
        )
    return template.definition() | copy.deepcopy(dict(changes))


class TemplateLibrary:
    """An immutable set of template versions with lookups by id, version, category and CPT."""

    def __init__(self, templates: Iterable[Template]) -> None:
        self._by_key: dict[tuple[str, int], Template] = {}
        for template in templates:
            key = (template.id, template.version)
            if key in self._by_key:
                raise ValueError(f"template {template.id} version {template.version} is duplicated")
            self._by_key[key] = template
        self._latest: dict[str, Template] = {}
        for template in sorted(self._by_key.values(), key=lambda t: (t.id, t.version)):
            self._latest[template.id] = template

    @classmethod
    def from_directory(cls, directory: Traversable) -> TemplateLibrary:
        """Load <directory>/<id>/<version>.json; the path must agree with the content."""
        found: list[Template] = []
        for folder in sorted(directory.iterdir(), key=lambda p: p.name):
            if not folder.is_dir():
                continue
            for file in sorted(folder.iterdir(), key=lambda p: p.name):
                if file.name.endswith(".json"):
                    found.append(_load_file(folder.name, file))
        return cls(found)

    def __len__(self) -> int:
        return len(self._by_key)

    def __iter__(self) -> Iterator[Template]:
        """Every version of every template, by id then version."""
        return iter(sorted(self._by_key.values(), key=lambda t: (t.id, t.version)))

    def __contains__(self, template_id: object) -> bool:
        return template_id in self._latest

    def ids(self) -> list[str]:
        return sorted(self._latest)

    def get(self, template_id: str, version: int) -> Template:
        try:
            return self._by_key[(template_id, version)]
        except KeyError:
            raise NotFound("No such template version.") from None

    def latest(self, template_id: str) -> Template:
        try:
            return self._latest[template_id]
        except KeyError:
            raise NotFound("No such template.") from None

    def versions(self, template_id: str) -> list[int]:
        return sorted(v for (tid, v) in self._by_key if tid == template_id)

    def current(self) -> list[Template]:
        """The latest version of each template, by id."""
        return [self._latest[tid] for tid in self.ids()]

    def by_category(self, category: Category | str) -> list[Template]:
        wanted = Category(category)
        return [t for t in self.current() if t.category is wanted]

    def for_cpt(self, code: str) -> list[Template]:
        return [t for t in self.current() if code in t.cpt_codes]

    def measures(self) -> list[Template]:
        return [t for t in self.current() if t.scoring is not None]


def _load_file(folder: str, file: Traversable) -> Template:
    where = f"{folder}/{file.name}"
    raw = json.loads(file.read_text(encoding="utf-8"))
    try:
        template = parse_template(raw)
    except ValidationFailed as exc:
        raise ValueError(f"template file {where} is invalid: {exc.details['errors']}") from None
    if (template.id, f"{template.version}.json") != (folder, file.name):
        raise ValueError(f"template file {where} holds {template.id} version {template.version}")
    return template


def builtin_templates_dir() -> Traversable:
    return resources.files("tpm") / "templates"


@cache
def builtin_library() -> TemplateLibrary:
    """The library shipped with tpm, loaded once per process (on first use, not import)."""
    return TemplateLibrary.from_directory(builtin_templates_dir())

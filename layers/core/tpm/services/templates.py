"""Clinical templates as a practice sees them: the built-in library plus the practice's own
(made from scratch, cloned from any template, or a new version of one of its own).

Templates are administrative configuration, not PHI; saving one is still audited as a
configuration change. A template version is written once and never changed, so a note that
names (id, version) always finds the exact definition it was written with. Practice
template ids start with PRACTICE_PREFIX, which no built-in id does, so the two never
collide and a built-in can only be adapted by cloning it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from tpm.adapters.store.base import ConditionFailed, PracticeStore
from tpm.domain.template_models import FieldError, Template
from tpm.domain.templates import (
    TemplateLibrary,
    builtin_library,
    check_template_definition,
    clone,
    new_version,
)
from tpm.errors import AlreadyExists, NotFound, ValidationFailed
from tpm.repositories.practice_templates import PracticeTemplateRepository
from tpm.security.policy import Access
from tpm.services.context import ServiceContext

PRACTICE_PREFIX: Final = "prx_"
READ, CREATE = "template.read", "template.create"
KIND = "template"

Source = Literal["builtin", "practice"]


@dataclass(frozen=True)
class CatalogEntry:
    template: Template  # the latest version
    versions: list[int]
    source: Source


class TemplateCatalog:
    """Resolves templates for one practice: its own first, then the built-in library."""

    def __init__(self, store: PracticeStore, library: TemplateLibrary | None = None) -> None:
        self.own = PracticeTemplateRepository(store)
        self.library = library if library is not None else builtin_library()

    @staticmethod
    def is_practice_id(template_id: str) -> bool:
        return template_id.startswith(PRACTICE_PREFIX)

    def get(self, template_id: str, version: int) -> Template:
        if not self.is_practice_id(template_id):
            return self.library.get(template_id, version)
        found = self.own.get(template_id, version)
        if found is None:
            raise NotFound("No such template version.")
        return found

    def latest(self, template_id: str) -> Template:
        if not self.is_practice_id(template_id):
            return self.library.latest(template_id)
        found = self.own.latest(template_id)
        if found is None:
            raise NotFound("No such template.")
        return found

    def resolve(self, template_id: str, version: int | None) -> Template:
        return self.latest(template_id) if version is None else self.get(template_id, version)

    def entries(self) -> list[CatalogEntry]:
        """The latest version of every template, built-in first, then the practice's."""
        found = [
            CatalogEntry(t, self.library.versions(t.id), "builtin") for t in self.library.current()
        ]
        versions: dict[str, list[Template]] = {}
        for template in self.own.all_versions():
            versions.setdefault(template.id, []).append(template)
        for kept in versions.values():
            kept.sort(key=lambda t: t.version)
            found.append(CatalogEntry(kept[-1], [t.version for t in kept], "practice"))
        return found


def definition_errors(errors: list[FieldError], where: str) -> ValidationFailed:
    """Problems in a submitted definition as a 422, at `<where><JSON pointer>`."""
    return ValidationFailed(fields=[{"path": f"{where}{e.path}", "type": e.type} for e in errors])


class TemplateService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.catalog = TemplateCatalog(ctx.store)

    def list(self) -> list[CatalogEntry]:
        access = self.ctx.authorize(READ, resource_kind=KIND)
        entries = self.catalog.entries()
        self.ctx.record(access, KIND, reason_code=f"count_{len(entries)}")
        return entries

    def get(self, template_id: str, version: int) -> tuple[Template, Source]:
        access = self.ctx.authorize(READ, resource_kind=KIND, resource_id=template_id)
        template = self.catalog.get(template_id, version)
        self.ctx.record(access, KIND, template_id)
        return template, _source(template.id)

    def create(self, raw: Mapping[str, Any]) -> Template:
        """A practice's own template from a full definition: version 1 of a new id, or the
        next version of one of its own."""
        access = self.ctx.authorize(CREATE, resource_kind=KIND)
        errors = check_template_definition(raw)
        if errors:
            raise definition_errors(errors, "body")
        template = Template.model_validate(raw)
        _require_prefix(template.id, "body/id")
        if self.catalog.own.get(template.id, template.version) is not None:
            raise AlreadyExists()
        current = self.catalog.own.latest(template.id)
        if template.version != (1 if current is None else current.version + 1):
            raise ValidationFailed(fields=[{"path": "body/version", "type": "version_not_next"}])
        return self._save(access, template)

    def clone(
        self, source_id: str, new_template_id: str, changes: Mapping[str, Any], version: int | None
    ) -> Template:
        access = self.ctx.authorize(CREATE, resource_kind=KIND, resource_id=source_id)
        source = self.catalog.resolve(source_id, version)
        _require_prefix(new_template_id, "body.new_id")
        if self.catalog.own.latest(new_template_id) is not None:
            raise AlreadyExists()
        template = _checked(lambda: clone(source, new_template_id, changes))
        return self._save(access, template)

    def new_version(self, template_id: str, changes: Mapping[str, Any]) -> Template:
        """The next version of a practice template; earlier versions stay as written."""
        access = self.ctx.authorize(CREATE, resource_kind=KIND, resource_id=template_id)
        if not TemplateCatalog.is_practice_id(template_id):
            # Built-ins change only with a release; a practice adapts one by cloning it.
            raise NotFound()
        current = self.catalog.latest(template_id)
        template = _checked(lambda: new_version(current, changes))
        return self._save(access, template)

    def _save(self, access: Access, template: Template) -> Template:
        op = PracticeTemplateRepository.create_op(template)
        try:
            self.ctx.write(access, lambda: [op], KIND, template.id)
        except ConditionFailed:
            raise AlreadyExists() from None
        return template


def _source(template_id: str) -> Source:
    return "practice" if TemplateCatalog.is_practice_id(template_id) else "builtin"


def _require_prefix(template_id: str, path: str) -> None:
    if not TemplateCatalog.is_practice_id(template_id):
        raise ValidationFailed(fields=[{"path": path, "type": "practice_template_prefix"}])


def _checked(make: Callable[[], Template]) -> Template:
    """Run clone/new_version; their definition errors point into body.changes."""
    try:
        return make()
    except ValidationFailed as exc:
        errors = exc.details.get("errors") or []
        raise ValidationFailed(
            fields=[{"path": f"body.changes{e['path']}", "type": e["type"]} for e in errors]
        ) from None

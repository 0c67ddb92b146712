"""Intake templates: which forms and consents a practice's intake has, its reminder
cadence, and whether it asks for an insurance card, reviews and books a first visit (and
which service the patient may book it as).
Configuration, not PHI (changes are still audited). Every save is a new version; each
form's template version is pinned at save, so a running intake keeps exactly the forms
it started with."""

from __future__ import annotations

from typing import Any

from tpm.adapters.store.base import ConditionFailed
from tpm.domain.intake import (
    BUILTIN_CONSENTS,
    ConsentItem,
    Effect,
    FormItem,
    IntakeTemplate,
    Part2Item,
)
from tpm.domain.template_models import Category
from tpm.errors import NotFound, ValidationFailed, VersionConflict
from tpm.ids import new_id
from tpm.repositories.catalogue import CatalogueRepository
from tpm.repositories.intake import IntakeRepository
from tpm.services.context import ServiceContext
from tpm.services.templates import TemplateCatalog

KIND = "intake_template"


class IntakeTemplateService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.intakes = IntakeRepository(ctx.store, ctx.runtime.cipher)
        self.catalog = TemplateCatalog(ctx.store)

    def list(self) -> list[IntakeTemplate]:
        ctx = self.ctx
        ctx.authorize_list("intake.template.read", resource_kind=KIND)
        found = self.intakes.templates()
        ctx.runtime.audit.record(
            ctx.store, ctx.event("intake.template.read", KIND, reason_code=f"count_{len(found)}")
        )
        return found

    def get(self, template_id: str, version: int | None = None) -> IntakeTemplate:
        ctx = self.ctx
        ctx.authorize_list("intake.template.read", resource_kind=KIND)
        found = self.intakes.template(template_id, version)
        if found is None:
            raise NotFound()
        ctx.runtime.audit.record(ctx.store, ctx.event("intake.template.read", KIND, template_id))
        return found

    def save(
        self, template_id: str | None, previous_version: int, fields: dict[str, Any]
    ) -> IntakeTemplate:
        """A new template (template_id None, previous_version 0) or its next version."""
        ctx = self.ctx
        access = ctx.authorize(
            "intake.template.manage", resource_kind=KIND, resource_id=template_id or ""
        )
        if template_id is not None:
            current = self.intakes.template(template_id)
            if current is None:
                raise NotFound()
            if current.version != previous_version:
                raise VersionConflict(current_version=current.version)
        elif previous_version != 0:
            raise VersionConflict(current_version=0)
        forms = tuple(self._form(i, f) for i, f in enumerate(fields.get("forms", [])))
        consents = tuple(self._consent(i, c) for i, c in enumerate(fields.get("consents", [])))
        now = ctx.now()
        try:
            template = IntakeTemplate(
                id=template_id or new_id("itp"),
                version=previous_version + 1,
                name=fields["name"],
                forms=forms,
                consents=consents,
                insurance_card=bool(fields.get("insurance_card", False)),
                review=bool(fields.get("review", True)),
                appointment=bool(fields.get("appointment", True)),
                first_visit_service_id=self._service(fields.get("first_visit_service_id")),
                part2=self._part2(fields.get("part2")),
                remind_after_hours=int(fields.get("remind_after_hours", 72)),
                reminders_before_stall=int(fields.get("reminders_before_stall", 2)),
                created_at=now,
                created_by=ctx.principal.user_id,
            )
        except ValueError as exc:
            raise ValidationFailed(fields=[{"path": "body", "type": "invalid_template"}]) from exc
        try:
            ctx.write(access, lambda: self.intakes.template_ops(template), KIND, template.id)
        except ConditionFailed as exc:
            raise VersionConflict() from exc
        return template

    @staticmethod
    def _part2(raw: dict[str, Any] | None) -> Part2Item | None:
        """A Part 2 consent needs every element 42 CFR 2.31 asks of the practice."""
        if raw is None:
            return None
        try:
            return Part2Item.model_validate(raw)
        except ValueError as exc:
            raise ValidationFailed(
                fields=[{"path": "body.part2", "type": "consent_elements_missing"}]
            ) from exc

    def _service(self, service_id: str | None) -> str | None:
        """The first-visit service must be one of the practice's active services."""
        if service_id is None:
            return None
        service = CatalogueRepository(self.ctx.store).service(service_id)
        if service is None or not service.active:
            raise ValidationFailed(
                fields=[{"path": "body.first_visit_service_id", "type": "unknown_service"}]
            )
        return service.id

    def _resolve(self, where: str, template_id: str, version: int | None) -> Any:
        try:
            return self.catalog.resolve(template_id, version)
        except NotFound:
            raise ValidationFailed(
                fields=[{"path": f"{where}.template_id", "type": "unknown_template"}]
            ) from None

    def _form(self, i: int, raw: dict[str, Any]) -> FormItem:
        found = self._resolve(f"body.forms.{i}", raw["template_id"], raw.get("template_version"))
        if found.category == Category.CONSENT:
            raise ValidationFailed(
                fields=[{"path": f"body.forms.{i}.template_id", "type": "is_a_consent"}]
            )
        return FormItem(
            key=raw["key"],
            template_id=found.id,
            template_version=found.version,
            required=raw.get("required", True),
        )

    def _consent(self, i: int, raw: dict[str, Any]) -> ConsentItem:
        found = self._resolve(f"body.consents.{i}", raw["template_id"], raw.get("template_version"))
        if found.category != Category.CONSENT:
            raise ValidationFailed(
                fields=[{"path": f"body.consents.{i}.template_id", "type": "not_a_consent"}]
            )
        revocable, effect = BUILTIN_CONSENTS.get(
            found.id, (bool(raw.get("revocable", False)), Effect.NONE)
        )
        if "effect" in raw and raw["effect"] is not None:
            effect = Effect(raw["effect"])
            revocable = True if effect != Effect.NONE else bool(raw.get("revocable", revocable))
        return ConsentItem(
            key=raw["key"],
            template_id=found.id,
            template_version=found.version,
            revocable=revocable,
            effect=effect,
        )

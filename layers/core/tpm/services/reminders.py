"""Reminder settings (rules, templates, quiet hours), per-patient template overrides and
the delivery log (outbox) staff can read. Content control runs on every save: a template
that could disclose diagnosis, service or treatment is refused with field-level reasons."""

from __future__ import annotations

from pydantic import ValidationError

from tpm.adapters.store.base import ConditionFailed
from tpm.domain.reminders import (
    ContentProblem,
    MessageTemplate,
    QuietHours,
    ReminderRule,
    ReminderSettings,
    check_settings,
    check_templates,
)
from tpm.errors import NotFound, ValidationFailed, VersionConflict
from tpm.repositories.catalogue import CatalogueRepository
from tpm.repositories.patients import PatientRepository
from tpm.repositories.public_tokens import SmsNumbers
from tpm.repositories.reminders import OutboxMessage, OutboxRepository, ReminderSettingsRepository
from tpm.services.context import ServiceContext
from tpm.services.reminder_hooks import forget_settings


def _refuse(problems: list[ContentProblem]) -> ValidationFailed:
    return ValidationFailed(fields=[p.as_detail() for p in problems])


class ReminderService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.repo = ReminderSettingsRepository(ctx.store, ctx.runtime.cipher)

    # ---- practice settings ----------------------------------------------------------------

    def settings(self) -> ReminderSettings:
        access = self.ctx.authorize("reminder.settings.read", resource_kind="reminder_settings")
        settings = self.repo.get()
        self.ctx.record(access, "reminder_settings")
        return settings

    def update_settings(
        self,
        *,
        version: int,
        rules: list[ReminderRule],
        templates: dict[str, MessageTemplate],
        quiet_hours: QuietHours,
        allow_clinician_name: bool,
        feed_patient_initials: bool,
        sms_number: str | None = None,
    ) -> ReminderSettings:
        ctx = self.ctx
        access = ctx.authorize("reminder.settings.update", resource_kind="reminder_settings")
        current = self.repo.get()
        if current.version != version:
            raise VersionConflict(current_version=current.version)
        try:
            proposed = ReminderSettings(
                rules=rules,
                templates=templates,
                quiet_hours=quiet_hours,
                allow_clinician_name=allow_clinician_name,
                feed_patient_initials=feed_patient_initials,
                sms_number=sms_number,
                version=version + 1,
            )
        except ValidationError as exc:
            raise ValidationFailed(
                fields=[
                    {"path": "body." + ".".join(str(p) for p in e["loc"]), "type": e["type"]}
                    for e in exc.errors()
                ]
            ) from None
        problems = check_settings(proposed, extra_terms=self._service_names())
        if problems:
            raise _refuse(problems)
        # The number is claimed before the settings write: inbound STOPs find the practice by it.
        if (
            sms_number
            and sms_number != current.sms_number
            and not SmsNumbers(ctx.runtime.store).claim(sms_number, ctx.practice_id)
        ):
            raise ValidationFailed(fields=[{"path": "body.sms_number", "type": "in_use"}])
        try:
            ctx.write(access, lambda: [self.repo.save_op(proposed)], "reminder_settings")
        except ConditionFailed as exc:
            raise VersionConflict() from exc
        forget_settings(ctx.practice_id)
        return proposed

    # ---- per-patient override -------------------------------------------------------------

    def update_patient_templates(
        self, patient_id: str, version: int, templates: dict[str, MessageTemplate]
    ) -> int:
        """Saves the patient's own templates; returns the new version. Naming the service
        (or clinical terms) is allowed only with the patient's authorization on file."""
        ctx = self.ctx
        access = ctx.authorize(
            "reminder.template.update",
            resource_kind="patient",
            resource_id=patient_id,
            patient_id=patient_id,
        )
        patient = PatientRepository(ctx.store, ctx.runtime.cipher).get(patient_id)
        if patient is None:
            raise NotFound()
        current = self.repo.override(patient_id)
        current_version = current[1] if current else 0
        if current_version != version:
            raise VersionConflict(current_version=current_version)
        settings = self.repo.get()
        may_name_service = bool(
            getattr(getattr(patient, "communication", None), "reminder_may_name_service", False)
        )
        problems = check_templates(
            templates,
            path="body.templates",
            allow_clinician_name=settings.allow_clinician_name,
            may_name_service=may_name_service,
            extra_terms=self._service_names(),
        )
        if problems:
            raise _refuse(problems)
        op = self.repo.save_override_op(patient_id, templates, version + 1)
        try:
            ctx.write(access, lambda: [op], "patient", patient_id, patient_id=patient_id)
        except ConditionFailed as exc:
            raise VersionConflict() from exc
        return version + 1

    # ---- delivery log -----------------------------------------------------------------------

    def outbox(self, limit: int, cursor: str | None) -> tuple[list[OutboxMessage], str | None]:
        ctx = self.ctx
        ctx.authorize_list("outbox.read", resource_kind="outbox_message")
        messages, next_cursor = OutboxRepository(ctx.store, ctx.runtime.cipher).page(limit, cursor)
        ctx.runtime.audit.record(
            ctx.store,
            ctx.event("outbox.read", "outbox_message", reason_code=f"count_{len(messages)}"),
        )
        return messages, next_cursor

    def _service_names(self) -> list[str]:
        # The practice's own service names are clinical terms too ("Couples intake").
        return [s.name for s in CatalogueRepository(self.ctx.store).services()]

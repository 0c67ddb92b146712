"""Intake form responses as versioned records, on the notes' version machinery
(tpm.domain.notes: `make_version`, `content_hash`, `check_versions`, `diff`): every save is
an immutable version with who, when, its content hash and a chain hash; a change after
submission is a new version (event `amended`), never an overwrite."""

from __future__ import annotations

from typing import Any

from tpm.clock import to_rfc3339
from tpm.domain.intake import FormResponse, FormStatus
from tpm.domain.notes import GENESIS, NoteVersion, VersionEvent, make_version
from tpm.domain.template_models import Category, FieldError, Template
from tpm.domain.templates import missing_at_signing, score, validate_content
from tpm.errors import ValidationFailed
from tpm.repositories.intake import IntakeRepository
from tpm.services.context import ServiceContext


def content_errors(errors: list[FieldError]) -> ValidationFailed:
    return ValidationFailed(
        fields=[{"path": f"body.content{e.path}", "type": e.type} for e in errors]
    )


def check_content(template: Template, content: dict[str, Any], *, final: bool) -> None:
    errors = validate_content(template, content, partial=not final)
    if errors:
        raise content_errors(errors)
    if final:
        missing = missing_at_signing(template, content)
        if missing:
            raise ValidationFailed(
                fields=[{"path": f"body.content{p}", "type": "required"} for p in missing]
            )


def save_form(
    ctx: ServiceContext,
    repo: IntakeRepository,
    current: FormResponse | None,
    *,
    intake_id: str,
    key: str,
    patient_id: str,
    template: Template,
    content: dict[str, Any],
    submit: bool,
) -> tuple[FormResponse, NoteVersion]:
    """The next state of a form response and the version row that records it."""
    check_content(template, content, final=submit)
    now = ctx.now()
    if current is None:
        event, n, prev = VersionEvent.CREATED, 1, GENESIS
    else:
        n, prev = current.version + 1, current.chain_hash
        if current.status == FormStatus.SUBMITTED:
            event = VersionEvent.AMENDED
        else:
            event = VersionEvent.SUBMITTED if submit else VersionEvent.SAVED
    if submit and event == VersionEvent.CREATED:
        event = VersionEvent.SUBMITTED
    record_id = f"{intake_id}.{key}"
    version = make_version(
        record_id,
        n,
        event,
        now,
        to_rfc3339(now),
        ctx.principal.user_id,
        template.id,
        template.version,
        content,
        prev,
    )
    submitted = submit or (current is not None and current.status == FormStatus.SUBMITTED)
    measure_score = None
    if submitted and template.category == Category.MEASURE and template.scoring is not None:
        answers = content.get("answers")
        if isinstance(answers, dict):
            result = score(template, answers)
            measure_score = {
                "total": result.total,
                "band": result.band,
                "flags": list(result.flags),
            }
    form = FormResponse(
        intake_id=intake_id,
        key=key,
        patient_id=patient_id,
        template_id=template.id,
        template_version=template.version,
        status=FormStatus.SUBMITTED if submitted else FormStatus.DRAFT,
        content=content,
        content_hash=version.content_hash,
        chain_hash=version.chain_hash,
        submitted_at=(current.submitted_at if current and current.submitted_at else now)
        if submitted
        else None,
        score=measure_score,
        updated_at=now,
        version=n,
    )
    return form, version

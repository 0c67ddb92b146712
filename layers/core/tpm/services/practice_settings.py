"""Reading the practice and changing its settings (audited; audit settings doubly so)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from tpm.domain.messaging_settings import check_notification_text
from tpm.domain.practice import Practice, PracticeSettings
from tpm.errors import ValidationFailed, VersionConflict
from tpm.security.audit_chain import AUDIT_SETTINGS_CHANGED
from tpm.services.context import ServiceContext
from tpm.services.practices import get_practice, update_op


class PracticeService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def get(self) -> Practice:
        access = self.ctx.authorize("practice.read", resource_kind="practice")
        practice = get_practice(self.ctx.runtime.store, self.ctx.practice_id)
        self.ctx.record(access, "practice", practice.id)
        return practice

    def update_settings(self, changes: dict[str, Any], version: int) -> Practice:
        """Applies a partial settings change. A change to any audit setting is recorded as
        `audit.settings.update` (naming the setting), so switching audit behaviour is
        itself in the trail."""
        ctx = self.ctx
        access = ctx.authorize("practice.settings.update", resource_kind="practice")
        practice = get_practice(ctx.runtime.store, ctx.practice_id)
        if practice.version != version:
            raise VersionConflict(current_version=practice.version)
        merged = practice.settings.model_dump(mode="json")
        for key, value in changes.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
        try:
            # JSON semantics, strictly: `true` is not a number of minutes, `0` not a date.
            settings = PracticeSettings.model_validate_json(json.dumps(merged), strict=True)
        except ValidationError as exc:
            fields = [
                {"path": "body." + ".".join(str(p) for p in e["loc"]), "type": e["type"]}
                for e in exc.errors()
            ]
            raise ValidationFailed(fields=fields) from None
        problems = check_notification_text(settings.messaging)
        if problems:
            raise ValidationFailed(fields=[p.as_detail() for p in problems])
        changed = practice.model_copy(update={"settings": settings, "version": version + 1})
        before, after = practice.settings.audit.model_dump(), settings.audit.model_dump()
        audit_changes = sorted(name for name in after if after[name] != before[name])
        if audit_changes:
            access = replace(access, action=AUDIT_SETTINGS_CHANGED)
        ctx.write(
            access,
            lambda: [update_op(changed)],
            "practice",
            ":".join(audit_changes)[:128] if audit_changes else practice.id,
            reason_code="changed",
        )
        return changed

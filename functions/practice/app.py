"""The practice: its profile and settings (sessions, provisioning, audit, passwords)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from tpm.api.app import create_app, lambda_entry
from tpm.api.context import service_context
from tpm.api.models import RequestModel
from tpm.domain.practice import Practice, PracticeSettings
from tpm.services.practice_settings import PracticeService

app = create_app("practice")
TAGS = ["practice"]


class PracticeView(BaseModel):
    id: str
    name: str
    slug: str
    timezone: str
    settings: PracticeSettings
    version: int

    @classmethod
    def of(cls, practice: Practice) -> PracticeView:
        return cls.model_validate(practice.model_dump(include=set(cls.model_fields)))


class SettingsIn(RequestModel):
    """A partial change: only the settings named are changed (nested ones merge)."""

    version: int = Field(ge=1)
    settings: dict[str, Any] = Field(min_length=1, max_length=20)


@app.get("/v1/practice", summary="The caller's practice and its settings", tags=TAGS)
def get_practice() -> PracticeView:
    return PracticeView.of(PracticeService(service_context(app)).get())


@app.patch("/v1/practice/settings", summary="Change practice settings (audited)", tags=TAGS)
def update_settings(body: SettingsIn) -> PracticeView:
    service = PracticeService(service_context(app))
    return PracticeView.of(service.update_settings(body.settings, body.version))


lambda_handler = lambda_entry(app, "practice")

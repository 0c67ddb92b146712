"""Clinical templates: the built-in library and the practice's own (made, cloned, or a new
version). A saved version never changes, so notes keep the exact version they name."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import BaseModel, Field

from tpm.api.app import create_app, lambda_entry
from tpm.api.context import service_context
from tpm.api.idempotency import idempotent
from tpm.api.models import RequestModel
from tpm.api.responses import created, created_doc
from tpm.domain.template_models import TEMPLATE_ID_PATTERN, Template
from tpm.services.templates import CatalogEntry, TemplateService

app = create_app("templates")
TAGS = ["templates"]


# ---- requests ---------------------------------------------------------------------------


class CloneIn(RequestModel):
    new_id: str = Field(
        pattern=TEMPLATE_ID_PATTERN, description='The new template\'s id; starts with "prx_".'
    )
    version: int | None = Field(
        default=None, ge=1, description="The version to clone; omit for the latest."
    )
    changes: dict[str, Any] = Field(
        default_factory=dict,
        description="Fields to change (title, description, cpt_codes, required_at_signing, "
        "layout, schema, instructions; scored measures: title, description, cpt_codes, "
        "instructions only).",
    )


class NewVersionIn(RequestModel):
    changes: dict[str, Any]


# ---- views ------------------------------------------------------------------------------


class TemplateSummary(BaseModel):
    id: str
    version: int
    versions: list[int]
    title: str
    category: str
    cpt_codes: list[str]
    source: Literal["builtin", "practice"]

    @classmethod
    def of(cls, entry: CatalogEntry) -> TemplateSummary:
        t = entry.template
        return cls(
            id=t.id,
            version=t.version,
            versions=entry.versions,
            title=t.title,
            category=t.category.value,
            cpt_codes=list(t.cpt_codes),
            source=entry.source,
        )


class TemplateView(BaseModel):
    source: Literal["builtin", "practice"]
    definition: dict[str, Any]

    @classmethod
    def of(cls, template: Template, source: Literal["builtin", "practice"]) -> TemplateView:
        return cls(source=source, definition=template.definition())


def created_template(template: Template) -> Response[str]:
    return created(
        TemplateView.of(template, "practice"),
        f"/v1/templates/{template.id}/versions/{template.version}",
    )


# ---- routes -----------------------------------------------------------------------------


@app.get("/v1/templates", summary="Every template (latest versions, metadata only)", tags=TAGS)
def list_templates() -> list[TemplateSummary]:
    return [TemplateSummary.of(e) for e in TemplateService(service_context(app)).list()]


@app.get(
    "/v1/templates/<templateId>/versions/<version>",
    summary="One template version, in full",
    tags=TAGS,
)
def get_template(templateId: str, version: int) -> TemplateView:  # noqa: N803
    template, source = TemplateService(service_context(app)).get(templateId, version)
    return TemplateView.of(template, source)


@app.post(
    "/v1/templates",
    summary="Save a practice's own template (validated)",
    tags=TAGS,
    responses=created_doc(TemplateView),
    middlewares=[idempotent],
)
def create_template(
    body: Annotated[dict[str, Any], Body(description="The template definition.")],
) -> Response[str]:
    return created_template(TemplateService(service_context(app)).create(body))


@app.post(
    "/v1/templates/<templateId>/clone",
    summary="Clone any template into a practice template",
    tags=TAGS,
    responses=created_doc(TemplateView),
    middlewares=[idempotent],
)
def clone_template(templateId: str, body: CloneIn) -> Response[str]:  # noqa: N803
    service = TemplateService(service_context(app))
    return created_template(service.clone(templateId, body.new_id, body.changes, body.version))


@app.post(
    "/v1/templates/<templateId>/versions",
    summary="Publish the next version of a practice template",
    tags=TAGS,
    responses=created_doc(TemplateView),
    middlewares=[idempotent],
)
def new_template_version(templateId: str, body: NewVersionIn) -> Response[str]:  # noqa: N803
    return created_template(
        TemplateService(service_context(app)).new_version(templateId, body.changes)
    )


lambda_handler = lambda_entry(app, "templates")

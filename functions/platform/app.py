"""Platform: liveness, the API description, and the answer for routes that do not exist."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel

from tpm import __version__
from tpm.api.app import create_app, lambda_entry
from tpm.api.routes import openapi_document

app = create_app("platform")


class Health(BaseModel):
    status: str
    version: str


@app.get(
    "/v1/health",
    summary="Liveness check",
    description="Public. Answers without touching the store or keys.",
    tags=["platform"],
)
def health() -> Health:
    return Health(status="ok", version=__version__)


@app.get(
    "/v1/openapi.json",
    summary="The OpenAPI document for the whole API",
    tags=["platform"],
)
def openapi() -> Response[dict[str, Any]]:
    return Response(status_code=200, content_type="application/json", body=openapi_document())


# Unknown routes (API Gateway's catch-all /{proxy+} lands here) are answered by the
# resolver's not_found handler with 404 or 405; see tpm.api.routes.

lambda_handler = lambda_entry(app, "platform")

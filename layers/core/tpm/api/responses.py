"""Success responses that need more than "return the model": 201 with Location, 204."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel


def created(model: BaseModel, location: str | None = None) -> Response[str]:
    headers = {"Location": location} if location else {}
    return Response(
        status_code=201,
        content_type="application/json",
        body=model.model_dump_json(),
        headers=headers,
    )


def created_doc(model: type[BaseModel]) -> dict[int, OpenAPIResponse]:
    """The OpenAPI description of a 201 whose body is `model`."""
    return {201: {"description": "Created", "content": {"application/json": {"model": model}}}}


def no_content() -> Response[str]:
    return Response(status_code=204, body="")


NO_CONTENT_DOC: dict[int, OpenAPIResponse] = {204: {"description": "Done; no body"}}
"""`responses=NO_CONTENT_DOC` on a route that answers `no_content()`, so the document
says 204 with no body instead of Powertools' default 200."""

"""From an API Gateway event to a ServiceContext: the caller's verified identity and the
request facts the audit trail records (source IP, user agent, request id)."""

from __future__ import annotations

import hmac
import ipaddress
from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.params import Query

from tpm.runtime import get_runtime
from tpm.services.authentication import RequestMeta
from tpm.services.context import ServiceContext
from tpm.services.request_auth import MfaEnrolmentRequired, authenticate, bearer_token

# Pagination per API.md: default 25, max 100; larger is 422, never silently clamped.
Limit = Annotated[int, Query(ge=1, le=100, description="Page size (1-100).")]
# An empty cursor is not a cursor: the schema says so (minLength 1) and the API answers
# it 422 like any other malformed query value; leave the parameter out for the first page.
Cursor = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=2048,
        description="Opaque cursor from a previous page (omit it for the first page).",
    ),
]


def client_address(source_ip: str, headers: dict[str, str], edge_secret: str) -> str:
    """The caller's address. Behind the portal's CloudFront the source is an edge location
    shared by many patients; CloudFront then sends the viewer's address in X-Tpm-Client-Ip
    (overwriting any the browser sent) with the shared X-Tpm-Edge secret. Without a matching
    secret the header is ignored: anyone can send it."""
    if not edge_secret:
        return source_ip
    lower = {k.lower(): v for k, v in headers.items()}
    presented = lower.get("x-tpm-edge", "")
    if not hmac.compare_digest(presented.encode(), edge_secret.encode()):
        return source_ip
    try:
        return str(ipaddress.ip_address(lower.get("x-tpm-client-ip", "").strip()))
    except ValueError:
        return source_ip


def request_meta(app: APIGatewayRestResolver) -> RequestMeta:
    event = app.current_event
    identity = event.request_context.identity
    source_ip = client_address(
        str(identity.source_ip or ""),
        dict(event.headers or {}),
        get_runtime().settings.edge_secret,
    )
    return RequestMeta(
        source_ip=source_ip,
        user_agent=str(identity.user_agent or "")[:512],
        request_id=str(event.request_context.request_id or ""),
    )


_CONTEXT_KEY = "tpm_service_context"


def service_context(
    app: APIGatewayRestResolver, *, enrolment_route: bool = False
) -> ServiceContext:
    """Authenticates the request (401/403 otherwise) and returns the context services use.
    Once per request: a middleware that needs the caller (idempotency) and the route share
    one context (Powertools clears `app.context` after every request)."""
    ctx = app.context.get(_CONTEXT_KEY)
    if not isinstance(ctx, ServiceContext):
        runtime = get_runtime()
        token = bearer_token(dict(app.current_event.headers or {}))
        principal = authenticate(runtime, token, request_meta(app), enrolment_route=True)
        ctx = ServiceContext(runtime=runtime, principal=principal)
        app.context[_CONTEXT_KEY] = ctx
    if ctx.principal.mfa_enrolment_pending and not enrolment_route:
        raise MfaEnrolmentRequired()
    return ctx

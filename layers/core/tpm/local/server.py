"""`tpm dev`'s HTTP server: the static site (portal/: the patient portal at /, the staff
app at /staff/, their shared modules at /shared/), the API through the local gateway.

Starlette gives us static files and an ASGI app; every /v1 request becomes an API Gateway
proxy event for the same handler Lambda would run (tpm.local.gateway).
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from tpm.local.gateway import API_GATEWAY_MAX_BODY, HttpRequest, LocalGateway
from tpm.local.outbox_page import outbox_page
from tpm.local.processor_page import processor_page

API_PREFIX = "/v1/"
PORTAL_HEADERS = {
    # The same policy CloudFront's response-headers policy sets in AWS (infrastructure/).
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
        "object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(self), microphone=(self), geolocation=()",
}
# The Chime media frame (portal/visit-media/, docs/telehealth.md): the only document that
# may connect to Chime's media endpoints, and only the site's own pages may embed it. The
# SDK starts its media-transform worker from a blob: URL of its own code (worker-src);
# nothing else loosens. The same policy as CloudFront's behaviour for /visit-media/*
# (infrastructure/portal.yaml); a test keeps the two in step.
MEDIA_FRAME_PREFIX = "visit-media/"
CHIME_CONNECT = "https://*.chime.aws wss://*.chime.aws"
MEDIA_FRAME_HEADERS = {
    **PORTAL_HEADERS,
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self' {CHIME_CONNECT}; worker-src 'self' blob:; "
        "frame-ancestors 'self'; base-uri 'none'; form-action 'none'; object-src 'none'"
    ),
    "X-Frame-Options": "SAMEORIGIN",
}


def create_asgi_app(gateway: LocalGateway, portal_dir: Path) -> ASGIApp:
    async def api(request: Request) -> Response:
        body = await _read_capped(request)
        if body is None:
            return Response(
                b'{"error":{"code":"payload_too_large","message":"The request body is too large.",'
                b'"details":{}},"request_id":""}',
                status_code=413,
                media_type="application/json",
            )
        http_request = HttpRequest(
            method=request.method,
            path=request.url.path,
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw],
            query=list(request.query_params.multi_items()),
            body=body,
            source_ip=request.client.host if request.client else "127.0.0.1",
        )
        result = await run_in_threadpool(gateway.dispatch, http_request)
        response = Response(content=result.body, status_code=result.status)
        for name, value in result.headers:
            response.headers.append(name, value)
        return response

    portal = _PortalFiles(directory=str(portal_dir), html=True)
    site = Starlette(
        routes=[
            Route("/dev/outbox", outbox_page, methods=["GET"]),  # local only, never in AWS
            # The card processor's hosted checkout, played locally (never in AWS).
            Route(
                "/local-processor/checkout/{checkout_id}",
                processor_page(gateway),
                methods=["GET", "POST"],
            ),
            Mount("/", app=portal, name="portal"),
        ]
    )

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        # Every path under /v1 goes to the API, whatever characters it holds: a routing
        # pattern would let "/v1/x\ny" (a newline does not match ".*") fall through to the
        # portal's static files. The API answers 404/405 itself.
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path == "/v1" or path.startswith(API_PREFIX):
            response = await api(Request(scope, receive))
            await response(scope, receive, send)
            return
        await site(scope, receive, send)

    return app


async def _read_capped(request: Request) -> bytes | None:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > API_GATEWAY_MAX_BODY:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > API_GATEWAY_MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class _PortalFiles(StaticFiles):
    """Static portal files with the security headers CloudFront adds in AWS."""

    async def get_response(self, path: str, scope):  # type: ignore[no-untyped-def]
        response = await super().get_response(path, scope)
        frame = path.replace("\\", "/").lstrip("/").startswith(MEDIA_FRAME_PREFIX)
        for name, value in (MEDIA_FRAME_HEADERS if frame else PORTAL_HEADERS).items():
            response.headers.setdefault(name, value)
        return response

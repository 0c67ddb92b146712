"""`tpm dev`'s outbox page (/dev/outbox): every message the local notifier "sent", exactly
as the patient would read it, with a masked recipient.

Served by the LOCAL server only (tpm.local.server), never by an API route: in AWS the same
messages are listed to owners/admins by the authenticated GET /v1/outbox.
"""

from __future__ import annotations

import html

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse

from tpm.repositories.reminders import OutboxRepository
from tpm.runtime import Runtime, get_runtime
from tpm.services.practices import all_practice_ids

PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def mask(address: str) -> str:
    if "@" in address:
        local, _, domain = address.partition("@")
        return f"{local[:1]}***@{domain}"
    return f"{address[:2]}******{address[-2:]}" if len(address) > 4 else "****"


def render_outbox(runtime: Runtime, limit: int = 200) -> str:
    rows: list[str] = []
    for practice_id in all_practice_ids(runtime.store):
        store = runtime.store.practice(practice_id)
        messages, _ = OutboxRepository(store, runtime.cipher).page(limit, None)
        for m in messages:
            subject = f"<strong>{html.escape(m.subject)}</strong>\n" if m.subject else ""
            rows.append(
                "<tr>"
                f"<td>{html.escape(m.sent_at)}</td>"
                f"<td>{html.escape(m.channel)}</td>"
                f"<td>{html.escape(mask(m.to))}</td>"
                f"<td><pre>{subject}{html.escape(m.text)}</pre></td>"
                "</tr>"
            )
    rows.sort(reverse=True)
    body = "".join(rows) or '<tr><td colspan="4">No messages yet.</td></tr>'
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>tpm dev outbox</title></head><body><main>"
        "<h1>Outbox (local)</h1><p>Reminders and secure-message notices, as delivered.</p>"
        '<table><thead><tr><th scope="col">Sent (UTC)</th><th scope="col">Channel</th>'
        '<th scope="col">To</th><th scope="col">Message</th></tr></thead>'
        f"<tbody>{body}</tbody></table></main></body></html>"
    )


async def outbox_page(request: Request) -> HTMLResponse:
    page = await run_in_threadpool(render_outbox, get_runtime())
    return HTMLResponse(page, headers=PAGE_HEADERS)

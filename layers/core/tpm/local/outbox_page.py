"""`tpm dev`'s outbox page (/dev/outbox): every message the local notifier "sent", exactly
as the patient or staff member would read it, with a masked recipient: the ones the sweeps
store in the practices' OUTBOX partitions, and those kept only in the notifier's memory
(sign-in links, staff notices) since this `tpm dev` started.

Served by the LOCAL server only (tpm.local.server), never by an API route: in AWS the same
messages are listed to owners/admins by the authenticated GET /v1/outbox.
"""

from __future__ import annotations

import html

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse

from tpm.adapters.notify.outbox import OutboxNotifier
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


def _row(sent_at: str, channel: str, to: str, subject: str | None, text: str) -> str:
    heading = f"<strong>{html.escape(subject)}</strong>\n" if subject else ""
    return (
        "<tr>"
        f"<td>{html.escape(sent_at)}</td>"
        f"<td>{html.escape(channel)}</td>"
        f"<td>{html.escape(mask(to))}</td>"
        f"<td><pre>{heading}{html.escape(text)}</pre></td>"
        "</tr>"
    )


def render_outbox(runtime: Runtime, limit: int = 200) -> str:
    rows: list[str] = []
    stored: set[str] = set()
    for practice_id in all_practice_ids(runtime.store):
        store = runtime.store.practice(practice_id)
        messages, _ = OutboxRepository(store, runtime.cipher).page(limit, None)
        for m in messages:
            stored.add(m.provider_id)
            rows.append(_row(m.sent_at, m.channel, m.to, m.subject, m.text))
    if isinstance(runtime.notifier, OutboxNotifier):
        for e in runtime.notifier.sent:
            if e.message_id not in stored:
                rows.append(_row(e.sent_at, e.channel, e.to, e.subject, e.text))
    rows.sort(reverse=True)
    body = "".join(rows) or '<tr><td colspan="4">No messages yet.</td></tr>'
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>tpm dev outbox</title></head><body><main>"
        "<h1>Outbox (local)</h1>"
        "<p>Messages tpm sent (reminders, notices, sign-in links), as delivered.</p>"
        '<table><thead><tr><th scope="col">Sent (UTC)</th><th scope="col">Channel</th>'
        '<th scope="col">To</th><th scope="col">Message</th></tr></thead>'
        f"<tbody>{body}</tbody></table></main></body></html>"
    )


async def outbox_page(request: Request) -> HTMLResponse:
    page = await run_in_threadpool(render_outbox, get_runtime())
    return HTMLResponse(page, headers=PAGE_HEADERS)

"""`tpm dev`'s stand-in for the card processor's hosted checkout page
(/local-processor/checkout/<id>): what the patient sees after "Continue to the card page"
in the portal. It shows the amount only (all the processor ever learns) and a "Pay with
the test card" button; paying makes the local processor send its signed
`checkout.session.completed` webhook to POST /v1/payments/webhook through the local
gateway, exactly as the real processor would call the deployed API.

Served by the LOCAL server only (tpm.local.server), never in AWS: there the processor
hosts this page on its own origin. No card fields: nothing here is a card form.
"""

from __future__ import annotations

import html
from decimal import Decimal
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse

from tpm.local.gateway import HttpRequest, LocalGateway
from tpm.runtime import Runtime, get_runtime
from tpm.services.payments import processor_of
from tpm.services.practices import all_practice_ids

PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def find_checkout(runtime: Runtime, checkout_id: str) -> tuple[str, dict[str, Any]] | None:
    for practice_id in all_practice_ids(runtime.store):
        row = runtime.store.practice(practice_id).get(f"CHECKOUT#{checkout_id}", "CHECKOUT")
        if row is not None:
            return practice_id, dict(row)
    return None


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    document = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head><body><main>"
        f"<h1>{html.escape(title)}</h1>{body}</main></body></html>"
    )
    return HTMLResponse(document, status_code=status, headers=PAGE_HEADERS)


def pay(runtime: Runtime, gateway: LocalGateway, checkout_id: str) -> tuple[int, str]:
    """The patient paid: the processor's signed event, delivered to our webhook."""
    found = find_checkout(runtime, checkout_id)
    if found is None:
        return 404, "not_found"
    practice_id, row = found
    cents = int(Decimal(str(row["amount"])) * 100)
    processor = processor_of(runtime)
    body, signature = processor.pay(checkout_id, cents, str(row["reference"]), practice_id)  # type: ignore[attr-defined]
    request = HttpRequest(
        "POST",
        "/v1/payments/webhook",
        [("content-type", "application/json"), ("webhook-signature", signature)],
        [],
        body,
        "127.0.0.1",
    )
    response = gateway.dispatch(request)
    return response.status, response.body.decode("utf-8", "replace")


def processor_page(gateway: LocalGateway) -> Any:
    async def page(request: Request) -> HTMLResponse:
        runtime = get_runtime()
        checkout_id = str(request.path_params["checkout_id"])
        found = await run_in_threadpool(find_checkout, runtime, checkout_id)
        if found is None:
            return _page("No such payment", "<p>This payment page has expired.</p>", 404)
        _, row = found
        amount = f"${Decimal(str(row['amount'])):,.2f}"
        if request.method == "POST":
            if row.get("status") == "paid":
                return _page("Already paid", "<p>This payment was already made.</p>")
            status, _ = await run_in_threadpool(pay, runtime, gateway, checkout_id)
            if status != 200:
                return _page("Payment failed", "<p>The payment did not go through.</p>", 502)
            return _page(
                "Payment received",
                f"<p>{html.escape(amount)} paid. You can close this tab and go back to "
                "the portal: choose <strong>I have paid: update my balance</strong>.</p>",
            )
        if row.get("status") == "paid":
            return _page("Already paid", "<p>This payment was already made.</p>")
        return _page(
            "Synthetic card processor (local)",
            "<p>This page stands in for the card processor's hosted checkout under "
            "<code>tpm dev</code>. It knows the amount and nothing else.</p>"
            f"<p>Amount: <strong>{html.escape(amount)}</strong></p>"
            '<form method="post"><button type="submit">'
            f"Pay {html.escape(amount)} with the test card</button></form>",
        )

    return page

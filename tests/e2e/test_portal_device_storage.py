"""170.315(d)(7) end-user device encryption, met by storing nothing: after a patient signs
in and the portal loads their record, the browser holds no PHI and no token at rest — no
localStorage, sessionStorage, cookies, IndexedDB or Cache Storage — and every API answer
tells the browser not to keep it (Cache-Control: no-store)."""

from __future__ import annotations

import pytest
from conftest import PortalPatient
from playwright.sync_api import Page, Response, expect
from portal_api import sign_in_portal

pytestmark = pytest.mark.e2e

STORAGE = """async () => ({
  local: localStorage.length,
  session: sessionStorage.length,
  cookies: document.cookie,
  indexedDB: (await indexedDB.databases()).map((d) => d.name),
  caches: await caches.keys(),
  workers: (await navigator.serviceWorker.getRegistrations()).length,
})"""


def test_the_portal_keeps_nothing_on_the_device(page: Page, new_patient: PortalPatient) -> None:
    api_answers: list[Response] = []
    page.on("response", lambda r: api_answers.append(r) if "/v1/" in r.url else None)
    # GIVEN a patient signed in, with their record loaded on screen
    sign_in_portal(page, new_patient.email, new_patient.password)
    expect(page.get_by_role("heading", name="Contact details and reminders")).to_be_visible()
    expect(page.locator("#contact-email")).to_have_value(new_patient.email)
    # THEN nothing is stored on the device
    stored = page.evaluate(STORAGE)
    assert stored == {
        "local": 0,
        "session": 0,
        "cookies": "",
        "indexedDB": [],
        "caches": [],
        "workers": 0,
    }
    assert page.context.cookies() == []
    # AND every API answer that carried data said not to keep it
    data = [r for r in api_answers if r.request.method != "OPTIONS" and r.status != 204]
    assert data, "the portal made no API calls?"
    assert {r.url: r.headers.get("cache-control") for r in data} == {
        r.url: "no-store" for r in data
    }
    # AND a reload forgets the session: back to sign-in
    page.reload()
    expect(page.get_by_role("region", name="Sign in to your patient portal")).to_be_visible()

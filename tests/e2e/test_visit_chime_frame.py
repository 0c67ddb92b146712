"""The Chime media path in Chromium: the visit page's Chime client (portal/js/
visit-media-chime.js) opens the media frame (/visit-media/), which loads the bundled
amazon-chime-sdk-js under its own Content-Security-Policy and joins the meeting with the
attendee's credentials: it opens the meeting's own signalling URL and sends its join
frame. There is no Chime on this machine, so the test stands in for Chime's signalling
server (Playwright's WebSocket routing, nothing leaves the browser) and refuses the join
as Chime does for a token it does not accept: the page says the connection failed.

The API half (meetings and attendees made only at the start and at admission, deleted
at the end) is tests/integration/test_telehealth.py and tests/emulated/."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, WebSocketRoute, expect

pytestmark = pytest.mark.e2e

SIGNALING = "wss://signal.m1.ue1.app.chime.aws/control/3f0c1f36-0000-4c56-9d0e-5b4a1a1e2c01"
MEETING = {
    "MeetingId": "3f0c1f36-0000-4c56-9d0e-5b4a1a1e2c01",
    "ExternalMeetingId": "vis_01test",
    "MediaRegion": "us-east-1",
    "MediaPlacement": {
        "AudioHostUrl": "abc.k.m1.ue1.app.chime.aws:3478",
        "AudioFallbackUrl": "wss://haxrp.m1.ue1.app.chime.aws:443/calls/3f0c1f36",
        "SignalingUrl": SIGNALING,
        "TurnControlUrl": "https://2713.cell.us-east-1.meetings.chime.aws/v2/turn_sessions",
    },
    "MeetingFeatures": {"Audio": {"EchoReduction": "AVAILABLE"}, "Video": {"MaxResolution": "HD"}},
}
CREDENTIALS = {
    "attendee_id": "a1b2c3d4-0000-4e5f-8a9b-0c1d2e3f4a5b",
    "join_token": "ZmFrZS1qb2luLXRva2VuLWZvci10ZXN0cw",
    "meeting": MEETING,
}

JOIN = 1  # SdkSignalFrame.Type.JOIN in Chime's signalling protocol (protobuf)


def frame_type(message: bytes) -> int | None:
    """The `type` (field 2, a varint) of a signalling frame: one byte of frame kind (5:
    protobuf), then an SdkSignalFrame."""
    if not message or message[0] != 5:
        return None
    try:
        return _field_2(message[1:])
    except IndexError:
        return None


def _field_2(message: bytes) -> int | None:
    i = 0
    while i < len(message):
        key, i = _varint(message, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(message, i)
            if field == 2:
                return value
        elif wire == 2:
            size, i = _varint(message, i)
            i += size
        elif wire in (1, 5):
            i += 8 if wire == 1 else 4
        else:
            return None
    return None


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, i


OPEN_CHIME = """async (credentials) => {
  const { ChimeMedia } = await import("/js/visit-media-chime.js");
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
  const box = document.createElement("div");
  box.id = "chime-test";
  document.body.append(box);
  window.chimeTest = { failed: false, states: [] };
  const transport = { receive: async () => [] };
  const media = new ChimeMedia("vpt_01test", credentials, stream, transport, {
    onFrame: (frame) => box.append(frame),
    onState: (peer, state) => window.chimeTest.states.push([peer, state]),
    onGone: () => {},
    onChat: () => {},
    onFailed: () => { window.chimeTest.failed = true; },
  });
  media.start();
  window.chimeTest.media = media;
}"""


def test_the_media_frame_joins_the_meeting_with_the_sdk_and_reports_a_refusal(
    pages: Callable[[], Page], portal_url: str
) -> None:
    page = pages()
    opened: list[str] = []
    received: list[Any] = []

    def chime_signalling(ws: WebSocketRoute) -> None:
        opened.append(ws.url)

        def on_message(message: str | bytes) -> None:
            received.append(message)
            if isinstance(message, bytes) and frame_type(message) == JOIN:
                # Chime closes a connection whose join token it does not accept
                ws.close(code=4403, reason="Forbidden")

        ws.on_message(on_message)

    page.context.route_web_socket(re.compile(r"^wss://[^/]*\.chime\.aws/"), chime_signalling)
    page.goto("/")
    # WHEN the visit page's Chime client starts with an admitted attendee's credentials
    page.evaluate(OPEN_CHIME, CREDENTIALS)
    frame = page.locator("#chime-test iframe.visit-media")
    expect(frame).to_have_attribute("src", "/visit-media/index.html")
    # THEN the frame's SDK connects to the meeting's own signalling URL and sends its
    # join frame; the refusal reaches the page
    page.wait_for_function("() => window.chimeTest.failed === true", timeout=30_000)
    [url] = opened
    assert url.startswith(f"{SIGNALING}?X-Chime-Control-Protocol-Version=3&")
    assert JOIN in [frame_type(m) for m in received if isinstance(m, bytes)]
    # AND closing the client removes the frame (its media stop with it)
    page.evaluate("() => window.chimeTest.media.close()")
    expect(frame).to_have_count(0)


def test_only_the_media_frame_may_reach_chime(portal_url: str) -> None:
    """The portal's pages keep connect-src 'self'; the frame alone adds Chime's media
    endpoints and may be framed by the site's own pages only."""
    portal = httpx.get(f"{portal_url}/").headers
    frame = httpx.get(f"{portal_url}/visit-media/index.html").headers
    assert "chime.aws" not in portal["content-security-policy"]
    assert "frame-ancestors 'none'" in portal["content-security-policy"]
    csp = frame["content-security-policy"]
    assert "connect-src 'self' https://*.chime.aws wss://*.chime.aws;" in csp
    assert "worker-src 'self' blob:;" in csp
    assert "frame-ancestors 'self'" in csp
    assert frame["x-frame-options"] == "SAMEORIGIN"
    assert httpx.get(f"{portal_url}/visit-media/vendor/chime.js").status_code == 200

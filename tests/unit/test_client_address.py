"""Which address sign-in throttling and the audit trail record for a request."""

from __future__ import annotations

from tpm.api.context import client_address

SECRET = "s" * 40
EDGE = "198.51.100.7"


def test_direct_requests_use_the_source_address() -> None:
    assert client_address(EDGE, {"X-Tpm-Client-Ip": "203.0.113.9"}, "") == EDGE


def test_portal_requests_use_the_viewer_address_the_edge_sent() -> None:
    headers = {"X-Tpm-Edge": SECRET, "X-Tpm-Client-Ip": "203.0.113.9"}
    assert client_address(EDGE, headers, SECRET) == "203.0.113.9"
    assert client_address(EDGE, {**headers, "X-Tpm-Client-Ip": "2001:db8::1"}, SECRET) == (
        "2001:db8::1"
    )


def test_a_caller_without_the_edge_secret_cannot_choose_its_address() -> None:
    forged = {"X-Tpm-Edge": "wrong" * 8, "X-Tpm-Client-Ip": "203.0.113.9"}
    assert client_address(EDGE, forged, SECRET) == EDGE
    assert client_address(EDGE, {"X-Tpm-Client-Ip": "203.0.113.9"}, SECRET) == EDGE


def test_a_malformed_viewer_address_falls_back_to_the_source() -> None:
    headers = {"x-tpm-edge": SECRET, "x-tpm-client-ip": "203.0.113.9, 10.0.0.1"}
    assert client_address(EDGE, headers, SECRET) == EDGE

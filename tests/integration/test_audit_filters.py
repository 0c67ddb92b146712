"""The audit trail viewer's filters through the local gateway: by action (exact or a
prefix), by outcome, combined with the patient filter, pages that follow next_cursor, and
bad filters refused with a field error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyotp
import pytest
from support.gateway_calls import call_gateway

from tpm.clock import FixedClock
from tpm.config import get_settings
from tpm.local.authorizer import verify_bearer
from tpm.local.bootstrap import export_settings, local_settings
from tpm.local.demo import DEMO_ACCOUNTS, seed_demo_people
from tpm.local.gateway import LocalGateway
from tpm.runtime import build_runtime, set_runtime
from tpm.security.principal import Role
from tpm.services.practices import create_practice

ACCOUNTS = {a.role: a for a in DEMO_ACCOUNTS}
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


class Api:
    def __init__(self, gateway: LocalGateway) -> None:
        self.gateway = gateway

    def call(self, method: str, path: str, token: str | None = None, body: Any = None) -> Any:
        path, _, qs = path.partition("?")
        query = [tuple(p.split("=", 1)) for p in qs.split("&") if p]
        query = [(k, v.replace("%20", " ")) for k, v in query]
        response = call_gateway(
            self.gateway,
            method,
            path,
            token=token,
            body=body,
            query=query,  # type: ignore[arg-type]
        )
        return response.status, json.loads(response.body) if response.body else None

    def token(self, role: Role) -> str:
        demo = ACCOUNTS[role]
        body = {"practice": "audit", "email": demo.email, "password": demo.password}
        status, tokens = self.call("POST", "/v1/auth/login", body=body)
        assert status == 200, tokens
        return str(tokens["access_token"])


@pytest.fixture
def api(tmp_path: Path, project_root: Path) -> Iterator[Api]:
    settings = local_settings(tmp_path, environment="test")
    export_settings(settings)
    get_settings.cache_clear()
    runtime = build_runtime(settings, clock=FixedClock(NOW))
    practice = create_practice(
        runtime.store, runtime.clock, name="Audit Practice", slug="audit", timezone="UTC"
    )
    seed_demo_people(runtime, practice.id)
    set_runtime(runtime)
    yield Api(LocalGateway(project_root, authorizer=verify_bearer))
    set_runtime(None)


def compliance_token(api: Api) -> str:
    token = api.token(Role.COMPLIANCE)
    status, started = api.call("POST", "/v1/me/mfa/totp", token)
    assert status == 200
    code = pyotp.TOTP(started["secret"]).at(NOW)
    status, _ = api.call("POST", "/v1/me/mfa/totp/confirm", token, {"code": code})
    assert status == 200
    return token


def test_filters_by_action_prefix_exact_action_and_outcome(api: Api) -> None:
    # GIVEN a clinician who read their own account and was refused the user list
    clinician = api.token(Role.CLINICIAN)
    assert api.call("GET", "/v1/me", clinician)[0] == 200
    assert api.call("GET", "/v1/users", clinician)[0] == 403
    token = compliance_token(api)
    # WHEN compliance asks for denied events only
    status, denied = api.call("GET", "/v1/audit-events?outcome=denied&limit=50", token)
    assert status == 200
    # THEN every one is denied, and the refused user list is among them
    assert denied["items"]
    assert {e["outcome"] for e in denied["items"]} == {"denied"}
    assert any(e["action"] == "user.list" for e in denied["items"])
    # AND an action prefix keeps only that family, an exact action only that action
    status, selfs = api.call("GET", "/v1/audit-events?action=self.&limit=50", token)
    assert status == 200
    assert selfs["items"]
    assert all(e["action"].startswith("self.") for e in selfs["items"])
    status, exact = api.call("GET", "/v1/audit-events?action=self.read&limit=50", token)
    assert {e["action"] for e in exact["items"]} == {"self.read"}


def test_filtered_pages_follow_the_cursor_without_losing_events(api: Api) -> None:
    clinician = api.token(Role.CLINICIAN)
    for _ in range(7):
        assert api.call("GET", "/v1/me", clinician)[0] == 200
    token = compliance_token(api)
    seen: list[int] = []
    path = "/v1/audit-events?action=self.read&limit=3"
    cursor = None
    for _ in range(20):
        status, page = api.call("GET", path + (f"&cursor={cursor}" if cursor else ""), token)
        assert status == 200
        assert len(page["items"]) <= 3
        seen += [e["seq"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) >= 7
    assert seen == sorted(seen, reverse=True)
    assert len(set(seen)) == len(seen)


def test_a_bad_filter_is_a_field_error(api: Api) -> None:
    token = compliance_token(api)
    status, body = api.call("GET", "/v1/audit-events?outcome=maybe", token)
    assert status == 422
    assert body["error"]["details"]["fields"][0]["path"] == "query.outcome"
    status, body = api.call("GET", "/v1/audit-events?action=DROP%20TABLE", token)
    assert status == 422

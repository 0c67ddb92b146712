"""The local identity provider's own flows, through the API: TOTP enrolment and sign-in,
replay and lockout, recovery codes, refresh rotation, step-up, provisioning."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyotp
import pytest
from support.gateway_calls import call_gateway

from tpm.clock import FixedClock
from tpm.config import get_settings
from tpm.domain.practice import PracticeSettings
from tpm.local.authorizer import verify_bearer
from tpm.local.bootstrap import export_settings, local_settings
from tpm.local.demo import DEMO_ACCOUNTS, DEMO_PATIENT, seed_demo_people
from tpm.local.gateway import HttpResponse, LocalGateway
from tpm.runtime import Runtime, build_runtime, set_runtime
from tpm.security.audit import read_events, read_head
from tpm.security.principal import Role
from tpm.services.practices import create_practice, get_practice, update_op

ACCOUNTS = {a.role: a for a in (*DEMO_ACCOUNTS, DEMO_PATIENT)}


@dataclass
class Local:
    runtime: Runtime
    gateway: LocalGateway
    clock: FixedClock
    practice_id: str

    def call(
        self, method: str, path: str, token: str | None = None, body: Any = None
    ) -> HttpResponse:
        return call_gateway(self.gateway, method, path, token=token, body=body)

    def login(self, role: Role, password: str | None = None) -> HttpResponse:
        account = ACCOUNTS[role]
        body = {
            "practice": "local",
            "email": account.email,
            "password": password or account.password,
        }
        return self.call("POST", "/v1/auth/login", body=body)

    def token(self, role: Role) -> str:
        response = self.login(role)
        assert response.status == 200, response.body
        return str(json.loads(response.body)["access_token"])

    def events(self, after: int = 0) -> list[Any]:
        store = self.runtime.store.practice(self.practice_id)
        head = read_head(store)
        return list(read_events(store, after + 1, head.seq)) if head else []

    def enrol(self, token: str) -> tuple[str, list[str]]:
        started = self.call("POST", "/v1/me/mfa/totp", token)
        assert started.status == 200, started.body
        secret = json.loads(started.body)["secret"]
        assert json.loads(started.body)["qr_svg"].startswith("<svg")
        code = pyotp.TOTP(secret).at(self.clock.now())
        confirmed = self.call("POST", "/v1/me/mfa/totp/confirm", token, {"code": code})
        assert confirmed.status == 200, confirmed.body
        return secret, json.loads(confirmed.body)["recovery_codes"]


@pytest.fixture
def local(tmp_path: Path, project_root: Path) -> Iterator[Local]:
    settings = local_settings(tmp_path, environment="test")
    export_settings(settings)
    get_settings.cache_clear()
    clock = FixedClock(datetime(2026, 11, 25, 15, 0, 7, tzinfo=UTC))
    runtime = build_runtime(settings, clock=clock)
    practice = create_practice(
        runtime.store,
        clock,
        name="Local Sign-in Practice",
        slug="local",
        timezone="UTC",
        settings=PracticeSettings(require_provisioning_approval=True),
    )
    seed_demo_people(runtime, practice.id)
    set_runtime(runtime)
    yield Local(runtime, LocalGateway(project_root, authorizer=verify_bearer), clock, practice.id)
    set_runtime(None)


def test_totp_enrolment_then_sign_in_with_a_code(local: Local) -> None:
    # GIVEN an admin who must enrol MFA
    first = json.loads(local.login(Role.ADMIN).body)
    assert first["mfa_enrolment_required"] is True
    secret, codes = local.enrol(first["access_token"])
    assert len(codes) == 10
    assert len(set(codes)) == 10
    # WHEN they sign in again THEN the password alone only yields a challenge
    local.clock.advance(seconds=60)
    challenge = json.loads(local.login(Role.ADMIN).body)
    assert challenge["mfa_required"] is True
    assert "access_token" not in challenge
    code = pyotp.TOTP(secret).at(local.clock.now())
    done = local.call(
        "POST",
        "/v1/auth/mfa",
        body={"practice": "local", "challenge": challenge["challenge"], "code": code},
    )
    assert done.status == 200, done.body
    tokens = json.loads(done.body)
    assert tokens["session_id"] != first["session_id"]  # a new session id after every sign-in
    assert local.call("GET", "/v1/users", tokens["access_token"]).status == 200
    # AND the same code cannot be replayed for another sign-in
    again = json.loads(local.login(Role.ADMIN).body)
    replay = local.call(
        "POST",
        "/v1/auth/mfa",
        body={"practice": "local", "challenge": again["challenge"], "code": code},
    )
    assert replay.status == 401


def test_recovery_code_works_once(local: Local) -> None:
    _, codes = local.enrol(local.token(Role.ADMIN))
    for expected in (200, 401):
        challenge = json.loads(local.login(Role.ADMIN).body)["challenge"]
        response = local.call(
            "POST",
            "/v1/auth/mfa",
            body={"practice": "local", "challenge": challenge, "recovery_code": codes[0]},
        )
        assert response.status == expected


def test_failures_look_alike_and_lock_the_account(local: Local) -> None:
    wrong = local.login(Role.CLINICIAN, "definitely-not-it-99")
    unknown = local.call(
        "POST",
        "/v1/auth/login",
        body={"practice": "local", "email": "ghost@example.test", "password": "x" * 16},
    )
    no_practice = local.call(
        "POST",
        "/v1/auth/login",
        body={"practice": "nope", "email": "ghost@example.test", "password": "x" * 16},
    )
    bodies = [json.loads(r.body)["error"] for r in (wrong, unknown, no_practice)]
    assert {r.status for r in (wrong, unknown, no_practice)} == {401}
    assert all(b == bodies[0] for b in bodies)
    for _ in range(4):
        local.login(Role.CLINICIAN, "definitely-not-it-99")
    # Five failures: now even the right password is refused, with the same answer.
    locked = local.login(Role.CLINICIAN)
    assert locked.status == 401
    assert json.loads(locked.body)["error"] == bodies[0]
    actions = [(e.action, e.reason_code) for e in local.events()]
    assert ("auth.lockout", "locked_out") in actions
    assert ("auth.login", "locked") in actions
    assert ("auth.login", "unknown_user") in actions
    # After the lockout period the right password works again.
    local.clock.advance(minutes=16)
    assert local.login(Role.CLINICIAN).status == 200


def test_refresh_rotates_and_a_replayed_refresh_token_ends_the_session(local: Local) -> None:
    tokens = json.loads(local.login(Role.CLINICIAN).body)
    first = local.call(
        "POST",
        "/v1/auth/refresh",
        body={"practice": "local", "refresh_token": tokens["refresh_token"]},
    )
    assert first.status == 200
    rotated = json.loads(first.body)
    assert rotated["refresh_token"] != tokens["refresh_token"]
    # The old refresh token comes back (copied by someone): refused, and the session ends.
    replay = local.call(
        "POST",
        "/v1/auth/refresh",
        body={"practice": "local", "refresh_token": tokens["refresh_token"]},
    )
    assert replay.status == 401
    assert local.call("GET", "/v1/me", rotated["access_token"]).status == 401


def test_break_glass_needs_a_recent_mfa_step_up(local: Local) -> None:
    token = local.token(Role.CLINICIAN)
    secret, _ = local.enrol(token)
    other = json.loads(
        local.call(
            "POST",
            "/v1/patients",
            token,
            {
                "legal_first_name": "Rae",
                "legal_last_name": "Synthetic",
                "date_of_birth": "1970-03-03",
            },
        ).body
    )["id"]
    # Enrolling just now counts as MFA; 11 minutes later it no longer does.
    local.clock.advance(minutes=11)
    response = local.call(
        "POST", f"/v1/patients/{other}/break-glass", token, {"reason": "Covering an emergency call"}
    )
    assert response.status == 401, "break-glass allowed without a recent MFA"
    assert json.loads(response.body)["error"]["code"] == "reauthenticate"
    password = ACCOUNTS[Role.CLINICIAN].password
    code = pyotp.TOTP(secret).at(local.clock.now())
    assert (
        local.call(
            "POST", "/v1/auth/reauthenticate", token, {"password": password, "code": code}
        ).status
        == 204
    )
    response = local.call(
        "POST", f"/v1/patients/{other}/break-glass", token, {"reason": "Covering an emergency call"}
    )
    assert response.status == 201, response.body


def test_password_change_ends_other_sessions_and_checks_policy(local: Local) -> None:
    phone = local.token(Role.FRONT_DESK)
    laptop = local.token(Role.FRONT_DESK)
    current = ACCOUNTS[Role.FRONT_DESK].password
    weak = local.call(
        "POST",
        "/v1/me/password",
        laptop,
        {"current_password": current, "new_password": "password1234"},
    )
    assert weak.status == 422
    assert {f["type"] for f in json.loads(weak.body)["error"]["details"]["fields"]} >= {
        "common_password"
    }
    ok = local.call(
        "POST",
        "/v1/me/password",
        laptop,
        {"current_password": current, "new_password": "tangerine-glacier-mosaic-5"},
    )
    assert ok.status == 204
    assert local.call("GET", "/v1/me", laptop).status == 200
    assert local.call("GET", "/v1/me", phone).status == 401


def test_users_list_and_end_their_own_sessions_admins_end_anyones(local: Local) -> None:
    first = local.token(Role.BILLER)
    second_tokens = json.loads(local.login(Role.BILLER).body)
    sessions = json.loads(local.call("GET", "/v1/me/sessions", first).body)["items"]
    assert len([s for s in sessions if not s["ended"]]) == 2
    assert (
        local.call("POST", f"/v1/me/sessions/{second_tokens['session_id']}/end", first).status
        == 204
    )
    assert local.call("GET", "/v1/me", second_tokens["access_token"]).status == 401
    # An admin (MFA enrolled) ends the biller's remaining session.
    admin = local.token(Role.ADMIN)
    local.enrol(admin)
    biller_id = json.loads(local.call("GET", "/v1/me", first).body)["id"]
    listed = json.loads(local.call("GET", f"/v1/users/{biller_id}/sessions", admin).body)["items"]
    live = [s["id"] for s in listed if not s["ended"]]
    assert len(live) == 1
    assert (
        local.call("POST", f"/v1/users/{biller_id}/sessions/{live[0]}/revoke", admin).status == 204
    )
    assert local.call("GET", "/v1/me", first).status == 401


def test_provisioning_with_a_second_approver(local: Local) -> None:
    admin = local.token(Role.ADMIN)
    local.enrol(admin)
    invited = local.call(
        "POST",
        "/v1/users",
        admin,
        {
            "email": "new.hire@example.test",
            "display_name": "New Hire (synthetic)",
            "roles": ["clinician"],
        },
    )
    assert invited.status == 201
    assert invited.headers
    body = json.loads(invited.body)
    assert body["user"]["status"] == "pending_approval"
    assert body["invitation_token"] is None
    user_id = body["user"]["id"]
    # The inviter cannot approve their own invitation...
    assert local.call("POST", f"/v1/users/{user_id}/approve", admin).status == 403
    # ...a second administrator (the owner) can.
    owner = local.token(Role.OWNER)
    local.enrol(owner)
    approved = json.loads(local.call("POST", f"/v1/users/{user_id}/approve", owner).body)
    token = approved["invitation_token"]
    accepted = local.call(
        "POST",
        "/v1/auth/accept-invitation",
        body={"practice": "local", "token": token, "password": "saffron-harbor-quill-61"},
    )
    assert accepted.status == 200, accepted.body
    # One account per email in a practice.
    dup = local.call(
        "POST",
        "/v1/users",
        admin,
        {"email": "NEW.HIRE@example.test", "display_name": "Again", "roles": ["biller"]},
    )
    assert dup.status == 409
    signed_in = local.call(
        "POST",
        "/v1/auth/login",
        body={
            "practice": "local",
            "email": "new.hire@example.test",
            "password": "saffron-harbor-quill-61",
        },
    )
    assert signed_in.status == 200
    history = [(e.action, e.actor_kind) for e in local.events() if e.resource_id == user_id]
    assert ("user.invite", "user") in history
    assert ("user.approve", "user") in history
    assert ("user.activate", "user") in history


class Client:
    """A signed-in client that keeps itself going with the rotating refresh token."""

    def __init__(self, local: Local, role: Role) -> None:
        self.local = local
        tokens = json.loads(local.login(role).body)
        self.access, self.refresh = tokens["access_token"], tokens["refresh_token"]

    def renew(self) -> int:
        body = {"practice": "local", "refresh_token": self.refresh}
        response = self.local.call("POST", "/v1/auth/refresh", body=body)
        if response.status == 200:
            tokens = json.loads(response.body)
            self.access, self.refresh = tokens["access_token"], tokens["refresh_token"]
        return response.status


def test_break_glass_access_ends_when_its_time_box_does(local: Local) -> None:
    client = Client(local, Role.CLINICIAN)
    local.enrol(client.access)  # enrolling counts as a fresh MFA for the step-up
    body = {
        "legal_first_name": "Ida",
        "legal_last_name": "Synthetic",
        "date_of_birth": "1961-06-06",
    }
    patient_id = json.loads(local.call("POST", "/v1/patients", client.access, body).body)["id"]
    # GIVEN the clinician is not on the patient's care team
    assert local.call("GET", f"/v1/patients/{patient_id}", client.access).status == 404
    reason = {"reason": "Crisis call overnight"}
    opened = local.call("POST", f"/v1/patients/{patient_id}/break-glass", client.access, reason)
    assert opened.status == 201, opened.body
    # WHEN most of the 60-minute box has passed THEN access still works
    for _ in range(5):
        local.clock.advance(minutes=11)
        assert client.renew() == 200
    assert local.call("GET", f"/v1/patients/{patient_id}", client.access).status == 200
    # AND once it is over the record is closed again
    local.clock.advance(minutes=6)
    assert client.renew() == 200
    assert local.call("GET", f"/v1/patients/{patient_id}", client.access).status == 404


def test_a_session_ends_at_its_absolute_lifetime_whatever_the_activity(local: Local) -> None:
    store = local.runtime.store
    practice = get_practice(store, local.practice_id)
    settings = practice.settings.model_copy(update={"session_max_hours": 1})
    shorter = practice.model_copy(update={"settings": settings, "version": practice.version + 1})
    store.practice(local.practice_id).put(update_op(shorter).item)
    client = Client(local, Role.FRONT_DESK)
    for _ in range(5):  # 55 minutes of steady activity
        local.clock.advance(minutes=11)
        assert client.renew() == 200
        assert local.call("GET", "/v1/me", client.access).status == 200
    local.clock.advance(minutes=6)
    assert client.renew() == 401
    assert local.call("GET", "/v1/me", client.access).status == 401


def test_sign_in_attempts_are_throttled_per_address(local: Local) -> None:
    body = {"practice": "local", "email": "ghost@example.test", "password": "x" * 16}
    statuses = [local.call("POST", "/v1/auth/login", body=body).status for _ in range(51)]
    assert statuses[:50] == [401] * 50
    assert statuses[50] == 429
    # The limit is per address window: five minutes later guessing is slow again, not over.
    local.clock.advance(minutes=5)
    assert local.call("POST", "/v1/auth/login", body=body).status == 401

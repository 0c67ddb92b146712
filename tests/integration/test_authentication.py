"""One authentication suite, two identity providers behind the same routes: the local one
and Cognito (moto, the pool and client made from template.yaml; moto checks TOTP codes).
Whatever keeps the credentials, the API answers the same and enforces the same session
rules: MFA for privileged roles, deactivation, logout and idle timeout bite at once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.utilities.utils import load_resource
from support.gateway_calls import call_gateway
from support.template_resources import create_user_pool

from tpm.adapters.identity.cognito import CognitoIdentity
from tpm.clock import FixedClock
from tpm.config import get_settings
from tpm.domain.practice import PracticeSettings
from tpm.domain.users import User, UserStatus
from tpm.errors import Unauthenticated
from tpm.ids import new_id
from tpm.local.authorizer import verify_bearer
from tpm.local.bootstrap import export_settings, local_settings
from tpm.local.gateway import HttpResponse, LocalGateway
from tpm.repositories.users import UserRepository
from tpm.runtime import Runtime, build_runtime, set_runtime
from tpm.security import passwords
from tpm.security.audit_chain import AuditEvent
from tpm.security.policy import permission_table
from tpm.security.principal import Role, SystemActor
from tpm.security.tokens import StaticJwks
from tpm.services.practices import create_practice

PASSWORD = "Copper-Willow-Signal-38"  # moto applies Cognito's default composition policy
REGION = "us-east-1"
LOCAL_TOTP_SECRET = "JBSWY3DPEHPK3PXP"
# moto hands every user the same TOTP secret (moto.cognitoidp.models.COGNITO_TOTP_MFA_SECRET);
# AWS makes one per user. Either way the API returns it from POST /v1/me/mfa/totp.
MOTO_TOTP_SECRET = "asdfasdfasdf"


@dataclass
class Api:
    runtime: Runtime
    gateway: LocalGateway
    clock: FixedClock
    practice_id: str
    sign_in: Callable[[str, str], str]  # (email, password) -> bearer token; raises on failure
    provider: str
    totp_secret: str = LOCAL_TOTP_SECRET

    def call(
        self, method: str, path: str, token: str | None = None, body: Any = None
    ) -> HttpResponse:
        return call_gateway(self.gateway, method, path, token=token, body=body)

    def code(self) -> str:
        """A current TOTP code: at the test clock locally, at real time for moto."""
        at = self.clock.now() if self.provider == "local" else datetime.now(UTC)
        return totp_code(self.totp_secret, at)

    def add_user(self, role: Role, email: str, mfa: bool | None = None) -> User:
        store = self.runtime.store.practice(self.practice_id)
        repo = UserRepository(store, self.runtime.cipher)
        with_mfa = role in (Role.OWNER, Role.ADMIN) if mfa is None else mfa
        user = User(
            id=new_id("usr"),
            email=email,
            display_name=f"{role.value} (synthetic)",
            roles=frozenset({role}),
            status=UserStatus.ACTIVE,
            password_hash=passwords.hash_password(PASSWORD),
            created_at=self.clock.now(),
            mfa_secret=LOCAL_TOTP_SECRET if with_mfa else None,
        )
        self.runtime.audit.write_with_audit(
            store,
            lambda: list(repo.create_ops(user)),
            AuditEvent.for_system(
                SystemActor("test", self.practice_id), action="practice.seed", resource_kind="user"
            ),
        )
        return user


def totp_code(secret: str, at: datetime) -> str:
    """RFC 6238 by hand: pyotp refuses moto's 60-bit secret (it wants 112 bits or more)."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    counter = struct.pack(">Q", int(at.timestamp()) // 30)
    digest = hmac.new(key, counter, hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def _base(tmp_path: Path) -> tuple[Runtime, FixedClock, str]:
    settings = local_settings(tmp_path, environment="test")
    export_settings(settings)
    get_settings.cache_clear()
    clock = FixedClock(datetime.now(UTC).replace(microsecond=0))
    runtime = build_runtime(settings, clock=clock)
    practice = create_practice(
        runtime.store,
        clock,
        name="Auth Suite Practice",
        slug="auth-suite",
        timezone="UTC",
        settings=PracticeSettings(session_idle_minutes=5),
    )
    return runtime, clock, practice.id


def _login(gateway: LocalGateway, email: str, password: str, code: Callable[[], str]) -> str:
    """POST /v1/auth/login, then /v1/auth/mfa when challenged: the bearer token."""
    body = {"practice": "auth-suite", "email": email, "password": password}
    response = call_gateway(gateway, "POST", "/v1/auth/login", body=body)
    if response.status != 200:
        raise Unauthenticated()
    result = json.loads(response.body)
    if result.get("mfa_required"):
        body = {"practice": "auth-suite", "challenge": result["challenge"], "code": code()}
        response = call_gateway(gateway, "POST", "/v1/auth/mfa", body=body)
        if response.status != 200:
            raise Unauthenticated()
        result = json.loads(response.body)
    return str(result["access_token"])


@pytest.fixture(params=["local", "cognito"])
def api(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    project_root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Api]:
    runtime, clock, practice_id = _base(tmp_path)
    if request.param == "local":
        set_runtime(runtime)
        gateway = LocalGateway(project_root, authorizer=verify_bearer)
        api = Api(runtime, gateway, clock, practice_id, lambda e, p: "", "local")
        api.sign_in = lambda email, password: _login(gateway, email, password, api.code)
        yield api
        set_runtime(None)
        return
    monkeypatch.setenv("MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP", "true")
    with mock_aws():
        client = boto3.client("cognito-idp", region_name=REGION)
        pool = create_user_pool(client)
        identity = CognitoIdentity(
            pool.pool_id,
            pool.client_id,
            region=REGION,
            client=client,
            jwks=StaticJwks(load_resource("cognitoidp/resources/jwks-public.json")),
        )
        cognito_runtime = replace(runtime, identity=identity, _verifier=None)
        set_runtime(cognito_runtime)
        gateway = LocalGateway(project_root, authorizer=verify_bearer)
        api = Api(cognito_runtime, gateway, clock, practice_id, lambda e, p: "", "cognito")
        api.totp_secret = MOTO_TOTP_SECRET
        add_user = api.add_user

        def add_user_everywhere(role: Role, email: str, mfa: bool | None = None) -> User:
            """The record (no password hash: the pool has the password) and the pool's user,
            with software-token MFA on for owners and admins, as the API would leave them."""
            user = add_user(role, email, mfa)
            store = cognito_runtime.store.practice(practice_id)
            repo = UserRepository(store, cognito_runtime.cipher)
            identity.create_account(
                user.id,
                email=email,
                practice_id=practice_id,
                patient_id=None,
                password=PASSWORD,
                roles=[role],
            )
            hosted = user.bump(password_hash=None, mfa_secret=None)
            if user.mfa_secret is not None:
                tokens = identity.initiate_auth(user.id, PASSWORD)
                assert tokens.access_token is not None
                identity.associate_software_token(tokens.access_token)
                assert identity.verify_software_token(tokens.access_token, api.code())
                identity.set_software_token_mfa(user.id, enabled=True)
                hosted = hosted.model_copy(update={"provider_mfa": True})
            cognito_runtime.audit.write_with_audit(
                store,
                lambda: [repo.update_op(hosted)],
                AuditEvent.for_system(
                    SystemActor("test", practice_id), action="practice.seed", resource_kind="user"
                ),
            )
            return hosted

        api.add_user = add_user_everywhere  # type: ignore[method-assign]
        api.sign_in = lambda email, password: _login(gateway, email, password, api.code)
        yield api
        set_runtime(None)


def test_signed_in_user_reaches_the_api(api: Api) -> None:
    user = api.add_user(Role.CLINICIAN, "casey@example.test")
    token = api.sign_in("casey@example.test", PASSWORD)
    me = api.call("GET", "/v1/me", token)
    assert me.status == 200, me.body
    assert json.loads(me.body)["id"] == user.id


def test_effective_permissions_are_the_permission_table_rows_of_the_callers_roles(
    api: Api,
) -> None:
    # GIVEN a clinician and a front-desk user
    api.add_user(Role.CLINICIAN, "casey@example.test")
    api.add_user(Role.FRONT_DESK, "frankie@example.test")
    table = permission_table()
    for email, role in (
        ("casey@example.test", Role.CLINICIAN),
        ("frankie@example.test", Role.FRONT_DESK),
    ):
        # WHEN each asks what they may do
        token = api.sign_in(email, PASSWORD)
        response = api.call("GET", "/v1/me/permissions", token)
        assert response.status == 200, response.body
        body = json.loads(response.body)
        # THEN the answer is exactly their role's grants, with scopes
        assert body["roles"] == [role.value]
        expected = {
            action: sorted(s.value for s in scopes) for action, scopes in table.grants[role].items()
        }
        assert body["actions"] == expected
    # AND the grants differ where the roles do (a hint the staff app builds its menus from)
    assert "note.create" in table.grants[Role.CLINICIAN]
    assert "note.create" not in table.grants[Role.FRONT_DESK]


def test_wrong_password_and_unknown_user_fail_alike(api: Api) -> None:
    api.add_user(Role.CLINICIAN, "casey@example.test")
    with pytest.raises(Unauthenticated) as wrong:
        api.sign_in("casey@example.test", "not-the-password-at-all")
    with pytest.raises(Unauthenticated) as unknown:
        api.sign_in("nobody@example.test", PASSWORD)
    assert wrong.value.message == unknown.value.message


def test_deactivated_user_is_refused_on_the_next_request(api: Api) -> None:
    user = api.add_user(Role.CLINICIAN, "casey@example.test")
    admin_user = api.add_user(Role.ADMIN, "adam@example.test")
    token = api.sign_in("casey@example.test", PASSWORD)
    assert api.call("GET", "/v1/me", token).status == 200
    # GIVEN an admin (MFA done) deactivates the user
    admin = _mfa_session_token(api, admin_user)
    deactivated = api.call(
        "POST", f"/v1/users/{user.id}/deactivate", admin, {"version": _version(api, user.id)}
    )
    assert deactivated.status == 200, deactivated.body
    # THEN the user's existing, unexpired token fails at once
    assert api.call("GET", "/v1/me", token).status == 401
    # AND no new sign-in works (under Cognito the pool's user is disabled, refresh tokens revoked)
    with pytest.raises(Unauthenticated):
        api.sign_in("casey@example.test", PASSWORD)
    if api.provider == "cognito":
        identity = api.runtime.identity
        assert isinstance(identity, CognitoIdentity)
        pool_user = identity.client.admin_get_user(UserPoolId=identity.pool_id, Username=user.id)
        assert pool_user["Enabled"] is False
    # AND after reactivation the person signs in again (the old session stays ended)
    version = _version(api, user.id)
    back = api.call("POST", f"/v1/users/{user.id}/reactivate", admin, {"version": version})
    assert back.status == 200, back.body
    assert json.loads(back.body)["status"] == "active"
    assert api.call("GET", "/v1/me", token).status == 401
    assert api.call("GET", "/v1/me", api.sign_in("casey@example.test", PASSWORD)).status == 200
    if api.provider == "cognito":
        identity = api.runtime.identity
        assert isinstance(identity, CognitoIdentity)
        pool_user = identity.client.admin_get_user(UserPoolId=identity.pool_id, Username=user.id)
        assert pool_user["Enabled"] is True
    # AND reactivating an active account is a conflict that changes nothing
    again = api.call(
        "POST", f"/v1/users/{user.id}/reactivate", admin, {"version": _version(api, user.id)}
    )
    assert again.status == 409


def test_removed_role_takes_effect_on_the_next_request(api: Api) -> None:
    user = api.add_user(Role.FRONT_DESK, "frankie@example.test")
    admin_user = api.add_user(Role.ADMIN, "adam@example.test")
    token = api.sign_in("frankie@example.test", PASSWORD)
    assert api.call("GET", "/v1/patients", token).status == 200
    admin = _mfa_session_token(api, admin_user)
    changed = api.call(
        "PATCH",
        f"/v1/users/{user.id}/roles",
        admin,
        {"roles": ["biller"], "version": _version(api, user.id)},
    )
    assert changed.status == 200, changed.body
    created = api.call(
        "POST",
        "/v1/patients",
        token,
        {"legal_first_name": "A", "legal_last_name": "B", "date_of_birth": "2000-01-01"},
    )
    assert created.status == 403
    if api.provider == "cognito":
        # The pool's groups follow, so tokens name the roles the record holds.
        identity = api.runtime.identity
        assert isinstance(identity, CognitoIdentity)
        groups = identity.client.admin_list_groups_for_user(
            UserPoolId=identity.pool_id, Username=user.id
        )["Groups"]
        assert [g["GroupName"] for g in groups] == ["biller"]


def test_logout_ends_the_session(api: Api) -> None:
    api.add_user(Role.CLINICIAN, "casey@example.test")
    token = api.sign_in("casey@example.test", PASSWORD)
    assert api.call("GET", "/v1/me", token).status == 200
    assert api.call("POST", "/v1/auth/logout", token).status == 204
    assert api.call("GET", "/v1/me", token).status == 401


def test_idle_session_expires(api: Api) -> None:
    api.add_user(Role.CLINICIAN, "casey@example.test")
    token = api.sign_in("casey@example.test", PASSWORD)
    # GIVEN the practice logs idle sessions out after 5 minutes
    assert api.call("GET", "/v1/me", token).status == 200
    api.clock.advance(minutes=4)
    assert api.call("GET", "/v1/me", token).status == 200  # activity keeps it alive
    api.clock.advance(minutes=4)
    assert api.call("GET", "/v1/me", token).status == 200
    # WHEN 6 quiet minutes pass (the token itself is still valid)
    api.clock.advance(minutes=6)
    response = api.call("GET", "/v1/me", token)
    assert response.status == 401
    assert json.loads(response.body)["error"]["code"] in ("session_expired", "unauthenticated")


def test_admin_without_mfa_reaches_only_enrolment_then_enrols_and_works(api: Api) -> None:
    api.add_user(Role.ADMIN, "adam@example.test", mfa=False)
    token = api.sign_in("adam@example.test", PASSWORD)
    for method, path in (
        ("GET", "/v1/users"),
        ("GET", "/v1/patients"),
        ("GET", "/v1/security-alerts"),
    ):
        response = api.call(method, path, token)
        assert response.status == 403, path
        assert json.loads(response.body)["error"]["code"] == "mfa_enrolment_required"
    assert api.call("GET", "/v1/me", token).status == 200
    # WHEN the admin enrols an authenticator (the same two routes for both providers)
    enrol = api.call("POST", "/v1/me/mfa/totp", token)
    assert enrol.status == 200, enrol.body
    api.totp_secret = json.loads(enrol.body)["secret"]
    wrong = api.call("POST", "/v1/me/mfa/totp/confirm", token, {"code": "000000"})
    assert wrong.status == 422
    confirmed = api.call("POST", "/v1/me/mfa/totp/confirm", token, {"code": api.code()})
    assert confirmed.status == 200, confirmed.body
    assert len(json.loads(confirmed.body)["recovery_codes"]) >= 8
    # THEN this session works at once, and every later sign-in asks for a code
    assert api.call("GET", "/v1/users", token).status == 200
    api.clock.advance(seconds=31)  # the local provider never accepts a used time step twice
    body = {"practice": "auth-suite", "email": "adam@example.test", "password": PASSWORD}
    first = json.loads(api.call("POST", "/v1/auth/login", body=body).body)
    assert first["mfa_required"] is True
    assert "access_token" not in first
    bad = {"practice": "auth-suite", "challenge": first["challenge"], "code": "000000"}
    assert api.call("POST", "/v1/auth/mfa", body=bad).status == 401
    good = {**bad, "code": api.code()}
    signed_in = api.call("POST", "/v1/auth/mfa", body=good)
    assert signed_in.status == 200, signed_in.body
    tokens = json.loads(signed_in.body)
    assert tokens["mfa_enrolment_required"] is False
    assert api.call("GET", "/v1/users", tokens["access_token"]).status == 200


def test_refresh_keeps_the_session_and_ends_with_it(api: Api) -> None:
    api.add_user(Role.CLINICIAN, "casey@example.test")
    body = {"practice": "auth-suite", "email": "casey@example.test", "password": PASSWORD}
    tokens = json.loads(api.call("POST", "/v1/auth/login", body=body).body)
    refresh = {"practice": "auth-suite", "refresh_token": tokens["refresh_token"]}
    renewed = api.call("POST", "/v1/auth/refresh", body=refresh)
    assert renewed.status == 200, renewed.body
    again = json.loads(renewed.body)
    assert again["session_id"] == tokens["session_id"]
    assert api.call("GET", "/v1/me", again["access_token"]).status == 200
    # Logging out ends the session: its refresh token no longer works either.
    assert api.call("POST", "/v1/auth/logout", again["access_token"]).status == 204
    refresh["refresh_token"] = again["refresh_token"]
    assert api.call("POST", "/v1/auth/refresh", body=refresh).status == 401


def test_password_change_needs_the_current_one_and_takes_effect(api: Api) -> None:
    api.add_user(Role.CLINICIAN, "casey@example.test")
    token = api.sign_in("casey@example.test", PASSWORD)
    new = "Saffron-Lantern-Orchard-71"
    wrong = {"current_password": "not-it-at-all-x", "new_password": new}
    assert api.call("POST", "/v1/me/password", token, wrong).status == 422
    changed = api.call(
        "POST", "/v1/me/password", token, {"current_password": PASSWORD, "new_password": new}
    )
    assert changed.status == 204, changed.body
    with pytest.raises(Unauthenticated):
        api.sign_in("casey@example.test", PASSWORD)
    assert api.sign_in("casey@example.test", new)


def _version(api: Api, user_id: str) -> int:
    item = api.runtime.store.practice(api.practice_id).get(f"USER#{user_id}", "PROFILE")
    assert item is not None
    return int(item["version"])


def _mfa_session_token(api: Api, user: User) -> str:
    """An admin signed in with MFA (built directly: MFA sign-in is tested on its own)."""
    from datetime import timedelta

    from tpm.domain.sessions import Session
    from tpm.repositories.sessions import SessionRepository

    store = api.runtime.store.practice(api.practice_id)
    now = api.clock.now()
    session = Session(
        id=new_id("ses"),
        user_id=user.id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=8),
        idle_minutes=60,
        auth_time=now,
        mfa_at=now,
    )
    if api.provider == "cognito":
        # A real sign-in through the API: password, then the TOTP code Cognito asks for.
        return api.sign_in(user.email, PASSWORD)
    store.put(SessionRepository(store).create_op(session).item)
    signer: Any = api.runtime.identity.signer  # type: ignore[attr-defined]
    return str(
        signer.issue_access(
            sub=user.id,
            practice_id=api.practice_id,
            roles=user.roles,
            sid=session.id,
            auth_time=now,
            amr=["pwd", "mfa"],
        )
    )


def test_an_invited_person_sets_a_password_and_signs_in(api: Api) -> None:
    owner = api.add_user(Role.OWNER, "olive@example.test")
    token = _mfa_session_token(api, owner)
    invited = api.call(
        "POST",
        "/v1/users",
        token,
        {"email": "newt@example.test", "display_name": "Newt", "roles": ["clinician"]},
    )
    assert invited.status == 201, invited.body
    invitation = json.loads(invited.body)["invitation_token"]
    with pytest.raises(Unauthenticated):
        api.sign_in("newt@example.test", PASSWORD)  # no account to sign in to yet
    accept = {"practice": "auth-suite", "token": invitation, "password": "Pewter-Meadow-Quill-52"}
    short = api.call("POST", "/v1/auth/accept-invitation", body={**accept, "password": "short"})
    assert short.status == 422
    accepted = api.call("POST", "/v1/auth/accept-invitation", body=accept)
    assert accepted.status == 200, accepted.body
    bearer = api.sign_in("newt@example.test", "Pewter-Meadow-Quill-52")
    me = json.loads(api.call("GET", "/v1/me", bearer).body)
    assert (me["email"], me["roles"]) == ("newt@example.test", ["clinician"])
    # The token is spent.
    assert api.call("POST", "/v1/auth/accept-invitation", body=accept).status == 404


# ---- admin powers that cannot be turned on the owner ----------------------------------------


def _roles_of(api: Api, user_id: str) -> list[str]:
    item = api.runtime.store.practice(api.practice_id).get(f"USER#{user_id}", "PROFILE")
    assert item is not None
    return sorted(item["roles"])


def test_nobody_changes_their_own_roles(api: Api) -> None:
    admin_user = api.add_user(Role.ADMIN, "adam@example.test")
    owner_user = api.add_user(Role.OWNER, "olive@example.test")
    for account in (owner_user, admin_user):
        token = _mfa_session_token(api, account)
        # WHEN someone grants themselves compliance (the audit trail) THEN it is refused
        own = api.call(
            "PATCH",
            f"/v1/users/{account.id}/roles",
            token,
            {"roles": [*_roles_of(api, account.id), "compliance"], "version": 1},
        )
        assert own.status == 403, own.body
        assert _roles_of(api, account.id) == sorted(r.value for r in account.roles)
    assert api.call("GET", "/v1/audit-events", token).status == 403


def test_only_an_owner_deactivates_or_ends_the_sessions_of_an_owner(api: Api) -> None:
    owner_user = api.add_user(Role.OWNER, "olive@example.test")
    second_owner = api.add_user(Role.OWNER, "otto@example.test")
    admin = _mfa_session_token(api, api.add_user(Role.ADMIN, "adam@example.test"))
    owner_token = _mfa_session_token(api, owner_user)
    version = _version(api, owner_user.id)
    # WHEN an admin deactivates an owner THEN it is refused and the owner keeps working
    refused = api.call("POST", f"/v1/users/{owner_user.id}/deactivate", admin, {"version": version})
    assert refused.status == 403, refused.body
    assert api.call("GET", "/v1/me", owner_token).status == 200
    # AND an admin cannot end an owner's session either
    sessions = json.loads(api.call("GET", f"/v1/users/{owner_user.id}/sessions", admin).body)
    live = [s["id"] for s in sessions["items"] if not s["ended"]]
    assert live
    ended = api.call("POST", f"/v1/users/{owner_user.id}/sessions/{live[0]}/revoke", admin)
    assert ended.status == 403, ended.body
    assert api.call("GET", "/v1/me", owner_token).status == 200
    # AND another owner may do both
    other = _mfa_session_token(api, second_owner)
    done = api.call("POST", f"/v1/users/{owner_user.id}/deactivate", other, {"version": version})
    assert done.status == 200, done.body
    assert api.call("GET", "/v1/me", owner_token).status == 401


def test_reactivation_takes_a_second_administrator_when_approval_is_on(api: Api) -> None:
    from tpm.services.practices import get_practice, update_op

    store = api.runtime.store.practice(api.practice_id)
    practice = get_practice(api.runtime.store, api.practice_id)
    settings = practice.settings.model_copy(update={"require_provisioning_approval": True})
    store.transact([update_op(practice.model_copy(update={"settings": settings, "version": 2}))])
    user = api.add_user(Role.CLINICIAN, "casey@example.test")
    first_user = api.add_user(Role.ADMIN, "adam@example.test")
    first = _mfa_session_token(api, first_user)
    second = _mfa_session_token(api, api.add_user(Role.ADMIN, "ada@example.test"))
    path = f"/v1/users/{user.id}"
    done = api.call("POST", f"{path}/deactivate", first, {"version": _version(api, user.id)})
    assert done.status == 200, done.body
    # WHEN one admin reactivates THEN it is only requested: the account stays deactivated
    asked = api.call("POST", f"{path}/reactivate", first, {"version": _version(api, user.id)})
    assert asked.status == 200, asked.body
    body = json.loads(asked.body)
    assert (body["status"], body["reactivation_requested_by"]) == ("deactivated", first_user.id)
    with pytest.raises(Unauthenticated):
        api.sign_in("casey@example.test", PASSWORD)
    # AND the same admin cannot approve their own request
    assert api.call("POST", f"{path}/approve", first).status == 403
    again = api.call("POST", f"{path}/reactivate", first, {"version": _version(api, user.id)})
    assert json.loads(again.body)["status"] == "deactivated"
    # WHEN a second admin approves THEN the person signs in again
    approved = api.call("POST", f"{path}/approve", second)
    assert approved.status == 200, approved.body
    assert json.loads(approved.body)["user"]["status"] == "active"
    assert api.call("GET", "/v1/me", api.sign_in("casey@example.test", PASSWORD)).status == 200


def test_wrong_totp_codes_count_toward_the_account_lockout(api: Api) -> None:
    from tpm.domain.users import LOCKOUT_THRESHOLD

    user = api.add_user(Role.CLINICIAN, "casey@example.test", mfa=True)
    if api.provider == "local":  # a full-length secret, as enrolment makes
        api.totp_secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
        store = api.runtime.store.practice(api.practice_id)
        repo = UserRepository(store, api.runtime.cipher)
        user = user.bump(mfa_secret=api.totp_secret)
        store.transact([repo.update_op(user)])
    login = {"practice": "auth-suite", "email": user.email, "password": PASSWORD}
    # GIVEN someone who has the password guesses codes, one fresh challenge at a time
    for _ in range(LOCKOUT_THRESHOLD):
        challenge = json.loads(api.call("POST", "/v1/auth/login", body=login).body)["challenge"]
        wrong = "000000" if api.code() != "000000" else "111111"
        body = {"practice": "auth-suite", "challenge": challenge, "code": wrong}
        assert api.call("POST", "/v1/auth/mfa", body=body).status == 401
    # THEN the account is locked: even the right password and code do not sign in
    with pytest.raises(Unauthenticated):
        api.sign_in(user.email, PASSWORD)
    item = api.runtime.store.practice(api.practice_id).get(f"USER#{user.id}", "PROFILE")
    assert item is not None
    assert item["locked_until"] is not None

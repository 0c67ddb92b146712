"""One authentication suite, two identity providers: the local one (our sign-in routes)
and Cognito (moto: real admin_initiate_auth tokens). Whatever signs the token, the API
enforces the same session rules: deactivation, logout and idle timeout bite at once."""

from __future__ import annotations

import json
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

from tpm.adapters.identity.cognito import CognitoIdentity
from tpm.clock import FixedClock
from tpm.config import get_settings
from tpm.domain.practice import PracticeSettings
from tpm.domain.users import User, UserStatus
from tpm.errors import Unauthenticated
from tpm.ids import new_id
from tpm.local.authorizer import verify_bearer
from tpm.local.bootstrap import export_settings, local_settings
from tpm.local.gateway import HttpRequest, HttpResponse, LocalGateway
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


@dataclass
class Api:
    runtime: Runtime
    gateway: LocalGateway
    clock: FixedClock
    practice_id: str
    sign_in: Callable[[str, str], str]  # (email, password) -> bearer token; raises on failure
    provider: str

    def call(
        self, method: str, path: str, token: str | None = None, body: Any = None
    ) -> HttpResponse:
        return call_gateway(self.gateway, method, path, token=token, body=body)

    def add_user(self, role: Role, email: str) -> User:
        store = self.runtime.store.practice(self.practice_id)
        repo = UserRepository(store, self.runtime.cipher)
        user = User(
            id=new_id("usr"),
            email=email,
            display_name=f"{role.value} (synthetic)",
            roles=frozenset({role}),
            status=UserStatus.ACTIVE,
            password_hash=passwords.hash_password(PASSWORD),
            created_at=self.clock.now(),
            mfa_secret="JBSWY3DPEHPK3PXP" if role in (Role.OWNER, Role.ADMIN) else None,
        )
        self.runtime.audit.write_with_audit(
            store,
            lambda: list(repo.create_ops(user)),
            AuditEvent.for_system(
                SystemActor("test", self.practice_id), action="practice.seed", resource_kind="user"
            ),
        )
        return user


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


@pytest.fixture(params=["local", "cognito"])
def api(request: pytest.FixtureRequest, tmp_path: Path, project_root: Path) -> Iterator[Api]:
    runtime, clock, practice_id = _base(tmp_path)
    if request.param == "local":
        set_runtime(runtime)
        gateway = LocalGateway(project_root, authorizer=verify_bearer)

        def sign_in(email: str, password: str) -> str:
            response = gateway.dispatch(
                HttpRequest(
                    "POST",
                    "/v1/auth/login",
                    [("content-type", "application/json")],
                    [],
                    json.dumps(
                        {"practice": "auth-suite", "email": email, "password": password}
                    ).encode(),
                )
            )
            if response.status != 200:
                raise Unauthenticated()
            return str(json.loads(response.body)["access_token"])

        yield Api(runtime, gateway, clock, practice_id, sign_in, "local")
        set_runtime(None)
        return
    with mock_aws():
        client = boto3.client("cognito-idp", region_name=REGION)
        pool_id = client.create_user_pool(
            PoolName="tpm",
            UsernameAttributes=["email"],
            MfaConfiguration="OPTIONAL",
            Schema=[
                {"Name": n, "AttributeDataType": "String", "Mutable": False}
                for n in ("practice_id", "user_id", "patient_id")
            ],
        )["UserPool"]["Id"]
        client_id = client.create_user_pool_client(
            UserPoolId=pool_id,
            ClientName="web",
            ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        )["UserPoolClient"]["ClientId"]
        for role in Role:
            client.create_group(UserPoolId=pool_id, GroupName=role.value)
        identity = CognitoIdentity(
            pool_id,
            client_id,
            region=REGION,
            client=client,
            jwks=StaticJwks(load_resource("cognitoidp/resources/jwks-public.json")),
            # A pool that makes MFA mandatory: every sign-in there used it.
            pool_mfa_required=True,
        )
        cognito_runtime = replace(runtime, identity=identity, _verifier=None)
        set_runtime(cognito_runtime)
        gateway = LocalGateway(project_root, authorizer=verify_bearer)
        api = Api(cognito_runtime, gateway, clock, practice_id, lambda e, p: "", "cognito")
        add_user = api.add_user

        def add_user_everywhere(role: Role, email: str) -> User:
            user = add_user(role, email)
            identity.admin_create_user(email, user_id=user.id, practice_id=practice_id)
            identity.admin_set_password(email, PASSWORD)
            identity.admin_add_user_to_group(email, role)
            return user

        def sign_in(email: str, password: str) -> str:
            tokens = identity.initiate_auth(email, password)
            assert tokens.id_token is not None
            return tokens.id_token

        api.add_user = add_user_everywhere  # type: ignore[method-assign]
        api.sign_in = sign_in
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
    # AND after reactivation the person signs in again (the old session stays ended)
    version = _version(api, user.id)
    back = api.call("POST", f"/v1/users/{user.id}/reactivate", admin, {"version": version})
    assert back.status == 200, back.body
    assert json.loads(back.body)["status"] == "active"
    assert api.call("GET", "/v1/me", token).status == 401
    assert api.call("GET", "/v1/me", api.sign_in("casey@example.test", PASSWORD)).status == 200
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


def test_admin_without_mfa_reaches_only_enrolment(api: Api) -> None:
    if api.provider == "cognito":
        # MFA is optional in this pool and the token says it was not used.
        relaxed = api.runtime.identity
        assert isinstance(relaxed, CognitoIdentity)
        relaxed._pool_mfa_required = False
    store = api.runtime.store.practice(api.practice_id)
    admin = api.add_user(Role.ADMIN, "adam@example.test")
    repo = UserRepository(store, api.runtime.cipher)
    no_mfa = repo.get(admin.id)
    assert no_mfa is not None
    api.runtime.audit.write_with_audit(
        store,
        lambda: [repo.update_op(no_mfa.bump(mfa_secret=None))],
        AuditEvent.for_system(
            SystemActor("test", api.practice_id), action="practice.seed", resource_kind="user"
        ),
    )
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
    # Enrolment happens where sign-in does: with us locally, at Cognito in AWS.
    enrol = api.call("POST", "/v1/me/mfa/totp", token)
    assert enrol.status == (200 if api.provider == "local" else 400)


def test_cognito_deployments_sign_in_at_the_provider(api: Api) -> None:
    if api.provider != "cognito":
        pytest.skip("the local provider signs in through these routes")
    body = {"practice": "auth-suite", "email": "x@example.test", "password": PASSWORD}
    response = api.call("POST", "/v1/auth/login", body=body)
    assert response.status == 400
    assert json.loads(response.body)["error"]["code"] == "sign_in_at_identity_provider"


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
    store.put(SessionRepository(store).create_op(session).item)
    if api.provider == "cognito":
        # Cognito-signed admin token: sign in at the provider; MFA facts come from the pool.
        return api.sign_in(user.email, PASSWORD)
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

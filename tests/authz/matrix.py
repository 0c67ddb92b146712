"""THE authorization matrix: every API route x every role x own/other/foreign target.

Each route in template.yaml must have exactly one Case here (a test fails otherwise).
`expect` maps a role to the status for each target variant, in the order of the case's
`variants`. Shorthand: one int = the same status for every variant.

Variants:
  own      a record related to the caller (care team / supervisee / their own record)
  other    a record in the caller's practice with no relationship to the caller
  foreign  a record in another practice (always 404 for a role that holds the action)
  -        the route has no target record
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyotp
from world import PASSWORD, World

from tpm.adapters.store.base import Put
from tpm.domain.sessions import Session
from tpm.domain.users import UserStatus
from tpm.ids import new_id
from tpm.repositories.sessions import SessionRepository
from tpm.repositories.users import UserRepository
from tpm.security.principal import Role

OW, A, C, CL, S, B, F, P, PX = (
    Role.OWNER,
    Role.ADMIN,
    Role.COMPLIANCE,
    Role.CLINICIAN,
    Role.SUPERVISOR,
    Role.BILLER,
    Role.FRONT_DESK,
    Role.PATIENT,
    Role.PROXY,
)
STAFF = [OW, A, C, CL, S, B, F]
EVERYONE = [*STAFF, P, PX]

# A factory gets (world, caller role, variant) and returns path params and body.
Target = Callable[[World, Role, str], tuple[dict[str, str], Any]]


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    expect: dict[Role, int | tuple[int, ...]]
    variants: tuple[str, ...] = ("-",)
    target: Target | None = None
    public: bool = False
    fresh_caller: bool = False  # the call changes the caller's credentials
    # Audit coverage: actions a successful call must write (patient-scoped ones carry the
    # target patient id).
    audit: tuple[str, ...] = ()
    patient_scoped: bool = False
    anonymous: int = 401
    query: list[tuple[str, str]] = field(default_factory=list)

    def status(self, role: Role, variant: str) -> int:
        value = self.expect.get(role, 403)
        if isinstance(value, int):
            return value
        return value[self.variants.index(variant)]


def every(status: int, roles: list[Role] = EVERYONE) -> dict[Role, int | tuple[int, ...]]:
    return dict.fromkeys(roles, status)


PATIENT_VARIANTS = ("own", "other", "foreign")
USER_VARIANTS = ("staff", "foreign")


# ---- target factories --------------------------------------------------------------------


def patient(world: World, role: Role, variant: str) -> str:
    if variant == "own":
        return world.related_patient(role)
    if variant == "other":
        return world.new_patient(world.a.id)
    return world.b.own_patient


def patient_target(body: Callable[[World, str], Any] | None = None) -> Target:
    def make(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
        pid = patient(world, role, variant)
        return {"patientId": pid}, body(world, pid) if body else None

    return make


def practice_version(world: World) -> int:
    item = world.runtime.store.practice(world.a.id).get("PRACTICE", "PROFILE")
    assert item is not None
    return int(item["version"])


def patient_version(world: World, pid: str) -> int:
    for practice in (world.a, world.b):
        item = world.runtime.store.practice(practice.id).get(f"PATIENT#{pid}", "PROFILE")
        if item is not None:
            return int(item["version"])
    raise AssertionError("no such patient")


def user_target(
    status: UserStatus = UserStatus.ACTIVE, body: Callable[[World, str, str], Any] | None = None
) -> Target:
    def make(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
        practice = world.a if variant == "staff" else world.b
        user = world.new_user(practice.id, Role.CLINICIAN)
        if status is not UserStatus.ACTIVE:
            store = world.runtime.store.practice(practice.id)
            repo = UserRepository(store, world.runtime.cipher)
            # invited by someone else: the caller must be a second administrator
            changed = user.bump(status=status, invited_by=new_id("usr"))
            world.system_write(practice.id, [repo.update_op(changed)])
            user = changed
        return {"userId": user.id}, body(world, practice.id, user.id) if body else None

    return make


def user_version(world: World, practice_id: str, user_id: str) -> int:
    item = world.runtime.store.practice(practice_id).get(f"USER#{user_id}", "PROFILE")
    assert item is not None
    return int(item["version"])


def extra_session(world: World, practice_id: str, user_id: str) -> str:
    store = world.runtime.store.practice(practice_id)
    now = world.runtime.clock.now()
    session = Session(
        id=f"ses_{secrets.token_hex(13)}"[:30],
        user_id=user_id,
        created_at=now,
        last_seen_at=now,
        expires_at=now.replace(year=now.year + 1),
        idle_minutes=15,
        auth_time=now,
    )
    store.put(SessionRepository(store).create_op(session).item)
    return session.id


def user_session_target(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    practice = world.a if variant == "staff" else world.b
    user = world.new_user(practice.id, Role.FRONT_DESK)
    return {"userId": user.id, "sessionId": extra_session(world, practice.id, user.id)}, None


def my_session_target(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    caller = world.a.users[role]
    owner = (
        caller
        if variant == "own"
        else world.a.users[Role.FRONT_DESK if role is not Role.FRONT_DESK else Role.BILLER]
    )
    return {"sessionId": extra_session(world, world.a.id, owner.id)}, None


def care_team_remove_target(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    practice = world.b if variant == "foreign" else world.a
    member = practice.users[Role.FRONT_DESK].id
    pid = world.new_patient(practice.id, care_team=[member])
    return {"patientId": pid, "userId": member}, None


def totp_confirm_body(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    # The caller (fresh) has a pending secret set by the harness; answer with its code.
    return {}, {"code": "__totp_pending__"}


def reauth_body(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    return {}, {"password": PASSWORD, "code": "__totp__"}


def password_body(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    return {}, {
        "current_password": PASSWORD,
        "new_password": f"brisk-meadow-{secrets.token_hex(4)}-quartz",
    }


def fixed(body: Any) -> Target:
    return lambda world, role, variant: ({}, body)


def login_body(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    user = world.a.users[Role.PATIENT]  # no MFA enrolled: the password alone signs in
    return {}, {"practice": "harness-a", "email": user.email, "password": PASSWORD}


def reset_body(world: World, role: Role, variant: str) -> tuple[dict[str, str], Any]:
    user = world.a.users[Role.PATIENT]
    return {}, {"practice": "harness-a", "email": user.email}


def totp_now(secret: str) -> str:
    return str(pyotp.TOTP(secret).now())


def set_pending_secret(world: World, practice_id: str, user_id: str, secret: str) -> None:
    repo = UserRepository(world.runtime.store.practice(practice_id), world.runtime.cipher)
    user = repo.get(user_id)
    assert user is not None
    world.system_write(
        practice_id, [Put(repo.update_op(user.bump(mfa_pending_secret=secret)).item)]
    )


# ---- the table ----------------------------------------------------------------------------

READ_PATIENT = {
    OW: (200, 200, 404),
    A: (200, 200, 404),
    B: (200, 200, 404),
    F: (200, 200, 404),
    CL: (200, 404, 404),
    S: (200, 404, 404),
    P: (200, 404, 404),
    C: 403,
}
ADMINS_201 = {OW: 201, A: 201}

CASES: list[Case] = [
    # -- platform (public) --
    Case("GET", "/v1/health", {}, public=True, anonymous=200),
    Case("GET", "/v1/openapi.json", {}, public=True, anonymous=200),
    # -- identity: public sign-in routes --
    Case(
        "POST",
        "/v1/auth/login",
        {},
        public=True,
        anonymous=200,
        target=login_body,
        audit=("auth.login",),
    ),
    Case(
        "POST",
        "/v1/auth/mfa",
        {},
        public=True,
        anonymous=401,
        target=fixed({"practice": "harness-a", "challenge": "x" * 43, "code": "123456"}),
    ),
    Case(
        "POST",
        "/v1/auth/refresh",
        {},
        public=True,
        anonymous=401,
        target=fixed({"practice": "harness-a", "refresh_token": "y" * 43}),
    ),
    Case(
        "POST",
        "/v1/auth/accept-invitation",
        {},
        public=True,
        anonymous=404,
        target=fixed(
            {"practice": "harness-a", "token": "z" * 43, "password": "long-enough-passphrase-1"}
        ),
    ),
    Case(
        "POST",
        "/v1/auth/password-reset",
        {},
        public=True,
        anonymous=202,
        target=reset_body,
        audit=("auth.password_reset_request",),
    ),
    Case(
        "POST",
        "/v1/auth/password-reset/confirm",
        {},
        public=True,
        anonymous=404,
        target=fixed(
            {"practice": "harness-a", "token": "r" * 43, "new_password": "long-enough-passphrase-1"}
        ),
    ),
    Case("GET", "/v1/auth/jwks.json", {}, public=True, anonymous=200),
    # -- identity: the caller's own account --
    Case("POST", "/v1/auth/logout", every(204), audit=("auth.logout",)),
    Case(
        "POST",
        "/v1/auth/reauthenticate",
        {**every(204, STAFF), P: 401, PX: 204},
        target=reauth_body,
        fresh_caller=True,
        audit=("auth.reauthenticate",),
    ),
    Case("GET", "/v1/me", every(200), audit=("self.read",)),
    Case("GET", "/v1/me/permissions", every(200), audit=("self.read",)),
    Case("GET", "/v1/me/sessions", every(200), audit=("self.sessions",)),
    Case(
        "POST",
        "/v1/me/sessions/{sessionId}/end",
        every((204, 404)),
        variants=("own", "other"),
        target=my_session_target,
        audit=("self.sessions",),
    ),
    Case("POST", "/v1/me/mfa/totp", every(200), audit=("self.mfa",)),
    Case(
        "POST",
        "/v1/me/mfa/totp/confirm",
        every(200),
        target=totp_confirm_body,
        fresh_caller=True,
        audit=("self.mfa",),
    ),
    Case(
        "POST",
        "/v1/me/password",
        every(204),
        target=password_body,
        fresh_caller=True,
        audit=("self.update",),
    ),
    Case(
        "GET",
        "/v1/me/access-log",
        {**every(404, [*STAFF, PX]), P: 200},
        audit=("patient.access_log.read",),
    ),
    # -- users --
    Case(
        "POST",
        "/v1/users",
        ADMINS_201,
        audit=("user.invite",),
        target=lambda w, r, v: (
            {},
            {
                "email": f"new-{secrets.token_hex(4)}@example.test",
                "display_name": "New Person (synthetic)",
                "roles": ["front_desk"],
            },
        ),
    ),
    Case("GET", "/v1/users", {OW: 200, A: 200, C: 200}, audit=("user.list",)),
    Case(
        "GET",
        "/v1/users/{userId}",
        {OW: (200, 404), A: (200, 404), C: (200, 404)},
        variants=USER_VARIANTS,
        target=user_target(),
        audit=("user.read",),
    ),
    Case(
        "POST",
        "/v1/users/{userId}/approve",
        {OW: (200, 404), A: (200, 404)},
        variants=USER_VARIANTS,
        target=user_target(UserStatus.PENDING_APPROVAL),
        audit=("user.approve",),
    ),
    Case(
        "PATCH",
        "/v1/users/{userId}/roles",
        {OW: (200, 404), A: (200, 404)},
        variants=USER_VARIANTS,
        target=user_target(
            body=lambda w, p, u: {
                "roles": ["clinician", "front_desk"],
                "version": user_version(w, p, u),
            }
        ),
        audit=("user.update_roles",),
    ),
    Case(
        "POST",
        "/v1/users/{userId}/deactivate",
        {OW: (200, 404), A: (200, 404)},
        variants=USER_VARIANTS,
        target=user_target(body=lambda w, p, u: {"version": user_version(w, p, u)}),
        audit=("user.deactivate",),
    ),
    Case(
        "POST",
        "/v1/users/{userId}/reactivate",
        {OW: (200, 404), A: (200, 404)},
        variants=USER_VARIANTS,
        target=user_target(
            status=UserStatus.DEACTIVATED, body=lambda w, p, u: {"version": user_version(w, p, u)}
        ),
        audit=("user.deactivate",),
    ),
    Case(
        "POST",
        "/v1/users/{userId}/supervisors",
        {OW: (204, 404), A: (204, 404)},
        variants=USER_VARIANTS,
        target=user_target(body=lambda w, p, u: {"supervisor_id": w.a.users[Role.SUPERVISOR].id}),
        audit=("user.update_relations",),
    ),
    Case(
        "GET",
        "/v1/users/{userId}/supervisors",
        {OW: (200, 404), A: (200, 404), C: (200, 404)},
        variants=USER_VARIANTS,
        target=user_target(),
        audit=("user.read",),
    ),
    Case(
        "GET",
        "/v1/users/{userId}/sessions",
        {OW: (200, 404), A: (200, 404), C: (200, 404)},
        variants=USER_VARIANTS,
        target=user_target(),
        audit=("user.sessions.read",),
    ),
    Case(
        "POST",
        "/v1/users/{userId}/sessions/{sessionId}/revoke",
        {OW: (204, 404), A: (204, 404)},
        variants=USER_VARIANTS,
        target=user_session_target,
        audit=("user.sessions.revoke",),
    ),
    # -- the practice --
    Case("GET", "/v1/practice", every(200), audit=("practice.read",)),
    Case(
        "PATCH",
        "/v1/practice/settings",
        {OW: 200, A: 200},
        target=lambda w, r, v: (
            {},
            {"version": practice_version(w), "settings": {"session_idle_minutes": 20}},
        ),
        audit=("practice.settings.update",),
    ),
    # -- audit and compliance --
    Case("GET", "/v1/audit-events", {OW: 200, C: 200}, audit=("audit.read",)),
    Case("POST", "/v1/audit/verify", {OW: 200, C: 200}, audit=("audit.verify",)),
    Case("GET", "/v1/security-alerts", {OW: 200, A: 200, C: 200}, audit=("security_alert.read",)),
    # -- patients --
    Case(
        "POST",
        "/v1/patients",
        {OW: 201, A: 201, CL: 201, F: 201},
        audit=("patient.create",),
        target=fixed(
            {
                "legal_first_name": "Nova",
                "legal_last_name": "Synthetic",
                "date_of_birth": "1999-09-09",
            }
        ),
    ),
    Case(
        "GET",
        "/v1/patients",
        {OW: 200, A: 200, B: 200, F: 200, CL: 200, S: 200},
        audit=("patient.list",),
    ),
    Case(
        "GET",
        "/v1/patients/{patientId}",
        READ_PATIENT,
        variants=PATIENT_VARIANTS,
        target=patient_target(),
        audit=("patient.read",),
        patient_scoped=True,
    ),
    Case(
        "PATCH",
        "/v1/patients/{patientId}",
        {A: (200, 200, 404), F: (200, 200, 404), CL: (200, 404, 404), S: 404, P: (200, 404, 404)},
        variants=PATIENT_VARIANTS,
        audit=("patient.update",),
        patient_scoped=True,
        target=patient_target(
            lambda w, pid: {"phone": "+15555550123", "version": patient_version(w, pid)}
        ),
    ),
    Case(
        "GET",
        "/v1/patients/{patientId}/care-team",
        READ_PATIENT,
        variants=PATIENT_VARIANTS,
        target=patient_target(),
        audit=("patient.read",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/patients/{patientId}/care-team",
        {OW: (204, 204, 404), A: (204, 204, 404), F: (204, 204, 404)},
        variants=PATIENT_VARIANTS,
        target=patient_target(lambda w, pid: {"user_id": w.a.users[Role.BILLER].id}),
        audit=("patient.care_team.update",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/patients/{patientId}/care-team/{userId}/remove",
        {OW: (204, 204, 404), A: (204, 204, 404), F: (204, 204, 404)},
        variants=PATIENT_VARIANTS,
        target=care_team_remove_target,
        audit=("patient.care_team.update",),
        patient_scoped=True,
    ),
    Case(
        "POST",
        "/v1/patients/{patientId}/break-glass",
        {CL: (201, 201, 404), S: (201, 201, 404)},
        variants=PATIENT_VARIANTS,
        target=patient_target(lambda w, pid: {"reason": "Crisis call, covering clinician"}),
        audit=("patient.break_glass",),
        patient_scoped=True,
    ),
    Case(
        "GET",
        "/v1/patients/{patientId}/access-log",
        {
            OW: (200, 200, 404),
            C: (200, 200, 404),
            CL: (200, 404, 404),
            S: (200, 404, 404),
            P: (200, 404, 404),
        },
        variants=PATIENT_VARIANTS,
        target=patient_target(),
        audit=("patient.access_log.read",),
        patient_scoped=True,
    ),
]


# Each product area declares its routes in its own module (matrix_<area>.py), merged here.
from matrix_billing import CASES as _BILLING  # noqa: E402
from matrix_compliance import CASES as _COMPLIANCE  # noqa: E402
from matrix_documents import CASES as _DOCUMENTS  # noqa: E402
from matrix_intake import CASES as _INTAKE  # noqa: E402
from matrix_measures import CASES as _MEASURES  # noqa: E402
from matrix_messaging import CASES as _MESSAGING  # noqa: E402
from matrix_notes import CASES as _NOTES  # noqa: E402
from matrix_patients import CASES as _PATIENTS  # noqa: E402
from matrix_proxies import CASES as _PROXIES  # noqa: E402
from matrix_reminders import CASES as _REMINDERS  # noqa: E402
from matrix_rights import CASES as _RIGHTS  # noqa: E402
from matrix_scheduling import CASES as _SCHEDULING  # noqa: E402
from matrix_telehealth import CASES as _TELEHEALTH  # noqa: E402
from matrix_templates import CASES as _TEMPLATES  # noqa: E402

CASES += [*_PATIENTS, *_SCHEDULING, *_REMINDERS, *_DOCUMENTS]
CASES += _MEASURES
CASES += _NOTES
CASES += _TEMPLATES
CASES += _MESSAGING
CASES += _TELEHEALTH
CASES += _COMPLIANCE
CASES += _RIGHTS
CASES += _INTAKE
CASES += _BILLING
CASES += _PROXIES

"""A runtime on a fresh data dir with the demo people seeded, a moveable clock, and the
local gateway — the set-up integration tests share."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from support.gateway_calls import call_gateway
from tpm.clock import FixedClock
from tpm.config import get_settings
from tpm.local.authorizer import verify_bearer
from tpm.local.bootstrap import export_settings, local_settings
from tpm.local.demo import DEMO_ACCOUNTS, DEMO_PATIENT, seed_demo_people
from tpm.local.gateway import LocalGateway
from tpm.runtime import Runtime, build_runtime, set_runtime
from tpm.security.principal import Role
from tpm.services.practices import create_practice

ACCOUNTS = {a.role: a for a in (*DEMO_ACCOUNTS, DEMO_PATIENT)}
# Roles that sign in with a password alone (MFA-required roles are covered by the matrix).
PASSWORD_ONLY_ROLES = (Role.CLINICIAN, Role.FRONT_DESK, Role.PATIENT)


@dataclass
class DemoPractice:
    runtime: Runtime
    gateway: LocalGateway
    practice_id: str
    clock: FixedClock
    tokens: dict[Role, str]


@contextmanager
def demo_practice(
    tmp_path: Path, project_root: Path, now: datetime, name: str
) -> Iterator[DemoPractice]:
    settings = local_settings(tmp_path, environment="test")
    export_settings(settings)
    get_settings.cache_clear()
    clock = FixedClock(now)
    runtime = build_runtime(settings, clock=clock)
    practice = create_practice(
        runtime.store, clock, name=name, slug="local", timezone="America/Chicago"
    )
    seed_demo_people(runtime, practice.id)
    set_runtime(runtime)
    gateway = LocalGateway(project_root, authorizer=verify_bearer)
    tokens = {}
    for role in PASSWORD_ONLY_ROLES:
        login = {"practice": "local", "email": ACCOUNTS[role].email}
        login["password"] = ACCOUNTS[role].password
        response = call_gateway(gateway, "POST", "/v1/auth/login", body=login)
        assert response.status == 200, response.body
        tokens[role] = str(json.loads(response.body)["access_token"])
    try:
        yield DemoPractice(runtime, gateway, practice.id, clock, tokens)
    finally:
        set_runtime(None)

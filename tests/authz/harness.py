"""Runs one matrix case as a role against a target variant (shared by both harnesses)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pyotp
from matrix import Case, set_pending_secret
from world import World

from tpm.local.gateway import HttpResponse
from tpm.security import mfa
from tpm.security.principal import Role


@dataclass
class Outcome:
    response: HttpResponse
    caller_id: str
    params: dict[str, str]

    @property
    def status(self) -> int:
        return self.response.status

    def json(self) -> Any:
        return json.loads(self.response.body) if self.response.body else None


def run_case(world: World, case: Case, role: Role | None, variant: str) -> Outcome:
    params, body = case.target(world, role or Role.PATIENT, variant) if case.target else ({}, None)
    path = case.path
    for name, value in params.items():
        path = path.replace("{" + name + "}", value)
    if role is None:
        return Outcome(world.call(case.method, path, body=body, query=case.query), "", params)
    caller = world.a.users[role]
    if case.fresh_caller:
        caller = world.new_user(
            world.a.id, role, patient_id=caller.patient_id, mfa_on=role is not Role.PATIENT
        )
    if isinstance(body, dict):
        body = dict(body)
        if body.get("code") == "__totp__":
            body["code"] = pyotp.TOTP(caller.mfa_secret).now() if caller.mfa_secret else "000000"
        elif body.get("code") == "__totp_pending__":
            secret = mfa.new_totp_secret()
            set_pending_secret(world, world.a.id, caller.id, secret)
            body["code"] = pyotp.TOTP(secret).now()
    token = world.token(caller, world.a.id)
    response = world.call(case.method, path, token=token, body=body, query=case.query)
    return Outcome(response, caller.id, params)

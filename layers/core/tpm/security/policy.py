"""Authorisation: the permission table (permissions.yaml) plus relationships.

One chokepoint for every PHI access: services call `Authorizer.check(...)` before loading
or changing a record. Deny by default. A role without the action gets Forbidden (403); a
role with the action but no relationship to the record gets NotFound (404) — the same
answer as a record that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any, Protocol

import yaml

from tpm.errors import Forbidden, NotFound
from tpm.security.principal import Principal, Role


class Scope(StrEnum):
    PRACTICE = "practice"
    CARE_TEAM = "care_team"
    SUPERVISEES = "supervisees"
    SELF = "self"
    # Only through an active proxy grant for the patient (tpm.services.proxy_access decides;
    # the Authorizer never grants it by itself).
    PROXY = "proxy"


@dataclass(frozen=True)
class ActionSpec:
    name: str
    kind: str
    phi: bool


@dataclass(frozen=True)
class PermissionTable:
    actions: dict[str, ActionSpec]
    grants: dict[Role, dict[str, frozenset[Scope]]]

    def scopes(self, roles: frozenset[Role], action: str) -> frozenset[Scope]:
        if action not in self.actions:
            raise KeyError(f"unknown action {action!r}: add it to permissions.yaml")
        found: set[Scope] = set()
        for role in roles:
            found |= self.grants.get(role, {}).get(action, frozenset())
        return frozenset(found)

    def roles_with(self, action: str) -> frozenset[Role]:
        return frozenset(r for r, g in self.grants.items() if action in g)


@cache
def permission_table() -> PermissionTable:
    """permissions.yaml plus every permissions.d/*.yaml (one file per product area, merged;
    an action or grant defined twice is an error)."""
    root = resources.files("tpm.security")
    data = yaml.safe_load(root.joinpath("permissions.yaml").read_text("utf-8"))
    extra = root.joinpath("permissions.d")
    if extra.is_dir():
        parts = sorted((p for p in extra.iterdir() if p.name.endswith(".yaml")), key=str)
        for part in parts:
            merge_tables(data, yaml.safe_load(part.read_text("utf-8")) or {}, part.name)
    return parse_table(data)


def merge_tables(base: dict[str, Any], part: dict[str, Any], name: str) -> None:
    for action, spec in (part.get("actions") or {}).items():
        if action in base["actions"]:
            raise ValueError(f"{name}: action {action!r} is already defined")
        base["actions"][action] = spec
    for role, grants in (part.get("roles") or {}).items():
        target = base["roles"].setdefault(role, {}) or {}
        base["roles"][role] = target
        for action, scopes in (grants or {}).items():
            if action in target:
                raise ValueError(f"{name}: {role} already has {action!r}")
            target[action] = scopes


def parse_table(data: dict[str, object]) -> PermissionTable:
    raw_actions = data["actions"]
    raw_roles = data["roles"]
    if not isinstance(raw_actions, dict) or not isinstance(raw_roles, dict):
        raise ValueError("permissions.yaml needs 'actions' and 'roles' mappings")
    actions = {
        name: ActionSpec(name=name, kind=str(spec["kind"]), phi=bool(spec["phi"]))
        for name, spec in raw_actions.items()
    }
    grants: dict[Role, dict[str, frozenset[Scope]]] = {}
    for role_name, role_grants in raw_roles.items():
        role = Role(role_name)
        grants[role] = {}
        for action, scopes in (role_grants or {}).items():
            if action not in actions:
                raise ValueError(f"{role_name}: unknown action {action!r}")
            grants[role][action] = frozenset(Scope(s) for s in scopes)
    return PermissionTable(actions=actions, grants=grants)


class Relationships(Protocol):
    """The facts the relationship scopes need (answered from the store)."""

    def on_care_team(self, patient_id: str, user_id: str) -> bool: ...

    def supervises_care_team_of(self, patient_id: str, supervisor_id: str) -> bool: ...

    def break_glass_active(self, patient_id: str, user_id: str, now: datetime) -> bool: ...


@dataclass(frozen=True)
class Access:
    """An allowed access and how it was allowed (for the audit trail)."""

    action: str
    phi: bool
    scope: Scope
    break_glass: bool = False


class Authorizer:
    def __init__(self, relationships: Relationships, table: PermissionTable | None = None) -> None:
        self.relationships = relationships
        self.table = table or permission_table()

    def check(
        self,
        principal: Principal,
        action: str,
        *,
        patient_id: str | None = None,
        user_id: str | None = None,
        now: datetime,
    ) -> Access:
        """Raises Forbidden or NotFound, or returns how access was granted.

        `patient_id` names the patient a record belongs to; `user_id` the account an
        account-level action targets (for the `self` scope)."""
        spec = self.table.actions.get(action)
        if spec is None:
            raise KeyError(f"unknown action {action!r}")
        scopes = self.table.scopes(principal.roles, action)
        if not scopes:
            raise Forbidden(action=action)
        if Scope.PRACTICE in scopes:
            return Access(action, spec.phi, Scope.PRACTICE)
        if Scope.SELF in scopes and self._is_self(principal, patient_id, user_id):
            return Access(action, spec.phi, Scope.SELF)
        if patient_id is not None:
            if Scope.CARE_TEAM in scopes and self.relationships.on_care_team(
                patient_id, principal.user_id
            ):
                return Access(action, spec.phi, Scope.CARE_TEAM)
            if Scope.SUPERVISEES in scopes and self.relationships.supervises_care_team_of(
                patient_id, principal.user_id
            ):
                return Access(action, spec.phi, Scope.SUPERVISEES)
            if Scope.CARE_TEAM in scopes and self.relationships.break_glass_active(
                patient_id, principal.user_id, now
            ):
                return Access(action, spec.phi, Scope.CARE_TEAM, break_glass=True)
        raise NotFound()

    @staticmethod
    def _is_self(principal: Principal, patient_id: str | None, user_id: str | None) -> bool:
        if patient_id is not None:
            return principal.patient_id is not None and principal.patient_id == patient_id
        return user_id is not None and user_id == principal.user_id

    def list_scopes(self, principal: Principal, action: str) -> frozenset[Scope]:
        """For list endpoints: which slice of records the caller may list (403 if none)."""
        scopes = self.table.scopes(principal.roles, action)
        if not scopes:
            raise Forbidden(action=action)
        return scopes

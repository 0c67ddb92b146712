// The signed-in user's effective permissions, from GET /v1/me/permissions (the permission
// table's rows for their roles). Screens and actions are shown only when the role holds
// the action; the API still checks every call and each record's relationship scopes, so
// this is never the only guard.

import { call } from "../../shared/api.js";

const state = { roles: [], actions: new Map() };

export async function loadPermissions() {
  const data = await call("GET", "/v1/me/permissions");
  state.roles = data.roles;
  state.actions = new Map(Object.entries(data.actions));
}

export function clearPermissions() {
  state.roles = [];
  state.actions = new Map();
}

/** True when the user's roles hold `action` (in any scope). */
export function can(action) {
  return state.actions.has(action);
}

/** The scopes the user holds `action` in: "practice", "care_team", "supervisees", "self". */
export function scopes(action) {
  return state.actions.get(action) || [];
}

export function canAll(actions = []) {
  return actions.every(can);
}

export function canAny(actions = []) {
  return actions.some(can);
}

export function roles() {
  return [...state.roles];
}

export function hasRole(role) {
  return state.roles.includes(role);
}

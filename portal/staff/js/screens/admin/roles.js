// The staff roles an account can hold, in the order people think of them.

import { el } from "../../ui.js";

export const STAFF_ROLES = [
  ["clinician", "Clinician"],
  ["supervisor", "Supervisor"],
  ["front_desk", "Front desk"],
  ["biller", "Biller"],
  ["compliance", "Compliance officer"],
  ["admin", "Administrator"],
  ["owner", "Owner"],
];

/** A fieldset of role checkboxes named "roles" (its data-field lets API errors land). */
export function roleChoices(idPrefix, chosen = []) {
  return el(
    "div",
    { class: "field", "data-field": "roles" },
    el(
      "fieldset",
      { id: `${idPrefix}-roles`, "aria-describedby": `${idPrefix}-roles-error` },
      el("legend", { text: "Roles" }),
      el("p", { id: `${idPrefix}-roles-error`, class: "field-error", hidden: true }),
      ...STAFF_ROLES.map(([value, label]) =>
        el(
          "div",
          { class: "check" },
          el("input", { type: "checkbox", id: `${idPrefix}-${value}`, name: "roles", value, checked: chosen.includes(value) }),
          el("label", { for: `${idPrefix}-${value}`, text: label }),
        ),
      ),
    ),
  );
}

export function chosenRoles(form) {
  return [...form.querySelectorAll('input[name="roles"]:checked')].map((i) => i.value);
}

export const STATUS = {
  pending_approval: "Waiting for approval",
  invited: "Invited",
  active: "Active",
  deactivated: "Deactivated",
};

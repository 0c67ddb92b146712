// Users: every staff account, and inviting a new one. An invitation gives a one-time code
// to pass to the person (in AWS it is emailed); with provisioning approval on, a second
// administrator approves it first.

import { call } from "../../../../shared/api.js";
import { can } from "../../permissions.js";
import { announce, busy, clearErrors, el, field, heading, roleName, showFormError, table } from "../../ui.js";
import { STATUS, chosenRoles, roleChoices } from "./roles.js";

async function allUsers() {
  const items = [];
  let cursor = null;
  for (let i = 0; i < 10; i += 1) {
    const q = new URLSearchParams({ limit: "100" });
    if (cursor) q.set("cursor", cursor);
    const page = await call("GET", `/v1/users?${q}`);
    items.push(...page.items);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  // Staff accounts only: patients and proxies (guardians) are managed from the chart.
  return items.filter((u) => !u.patient_id && !u.roles.includes("proxy"));
}

function userTable(users) {
  return table(
    "Staff accounts",
    ["Name", "Email", "Roles", "Status", "Authenticator"],
    users
      .sort((a, b) => a.display_name.localeCompare(b.display_name))
      .map((u) => [
        el("a", { href: `#/admin/users/${u.id}`, text: u.display_name }),
        u.email,
        u.roles.map(roleName).join(", "),
        STATUS[u.status] || u.status,
        u.mfa_enrolled ? "Set up" : "Not set up",
      ]),
    "No staff accounts.",
  );
}

function inviteForm(onInvited) {
  const form = el(
    "form",
    { id: "invite-form", novalidate: true, "aria-labelledby": "invite-title" },
    el("h2", { id: "invite-title", text: "Invite a staff member" }),
    field("Email", { name: "email", type: "email", autocomplete: "off", maxlength: "254", required: true }),
    field("Name", { name: "display_name", autocomplete: "off", maxlength: "120", required: true }, { hint: "As colleagues and patients will see it." }),
    field("Credentials", { name: "credentials", autocomplete: "off", maxlength: "60" }, { hint: "Optional, for example LCSW." }),
    roleChoices("invite"),
    el("button", { type: "submit", text: "Send invitation" }),
  );
  const result = el("div", { id: "invite-result" });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form);
    const f = form.elements;
    const body = {
      email: f.email.value.trim(),
      display_name: f.display_name.value.trim(),
      credentials: f.credentials.value.trim(),
      roles: chosenRoles(form),
    };
    busy(event.submitter, async () => {
      let out;
      try {
        out = await call("POST", "/v1/users", body);
      } catch (error) {
        showFormError(form, error, { too_short: "Choose at least one role.", missing: "Enter this." });
        return;
      }
      form.reset();
      const who = out.user.display_name;
      if (out.invitation_token) {
        result.replaceChildren(
          el("h3", { id: "invite-done", tabindex: "-1", text: `Invitation for ${who}` }),
          el("p", { text: "Give this one-time invitation code to the person, privately. They choose a password with it on the sign-in page (Accept an invitation)." }),
          el("p", {}, el("code", { class: "secret", id: "invitation-code", text: out.invitation_token })),
        );
      } else {
        result.replaceChildren(
          el("h3", { id: "invite-done", tabindex: "-1", text: `Invitation for ${who} is waiting for approval` }),
          el("p", { text: "A second administrator must approve it before the invitation code is issued." }),
        );
      }
      announce(`Invited ${who}.`);
      await onInvited();
      result.querySelector("h3").focus();
    });
  });
  return el("section", { class: "card" }, form, result);
}

export async function render(view) {
  const list = el("section", { "aria-labelledby": "accounts-title" });
  const refresh = async () => {
    list.replaceChildren(el("h2", { id: "accounts-title", text: "Accounts" }), userTable(await allUsers()));
  };
  await refresh();
  view.append(heading("Users"), can("user.invite") ? inviteForm(refresh) : el("span"), list);
}

// One staff account: roles (with the version it was loaded at), approval, supervisor,
// deactivate / reactivate (each says what it changes), and the account's sessions.

import { call } from "../../../../shared/api.js";
import { can } from "../../permissions.js";
import { current } from "../../session.js";
import { announce, busy, clearErrors, el, field, formatWhen, heading, roleName, showFormError, table } from "../../ui.js";
import { STATUS, chosenRoles, roleChoices } from "./roles.js";

export async function render(view, { userId }) {
  const user = await call("GET", `/v1/users/${encodeURIComponent(userId)}`);
  const again = async (message) => {
    view.replaceChildren();
    await render(view, { userId });
    announce(message);
    view.querySelector("h1").focus();
  };
  const path = `/v1/users/${encodeURIComponent(userId)}`;
  view.append(
    el("p", { class: "crumbs" }, el("a", { href: "#/admin/users", text: "Users" })),
    heading(user.display_name),
    el(
      "dl",
      { class: "facts" },
      el("dt", { text: "Email" }), el("dd", { text: user.email }),
      el("dt", { text: "Status" }), el("dd", { text: STATUS[user.status] || user.status }),
      el("dt", { text: "Roles" }), el("dd", { text: user.roles.map(roleName).join(", ") }),
      el("dt", { text: "Authenticator" }), el("dd", { text: user.mfa_enrolled ? "Set up" : "Not set up" }),
      user.credentials ? el("dt", { text: "Credentials" }) : null,
      user.credentials ? el("dd", { text: user.credentials }) : null,
    ),
  );
  const self = current.me && current.me.id === user.id;

  if (user.status === "pending_approval" && can("user.approve")) {
    const approve = el("button", { type: "button", text: "Approve invitation" });
    const out = el("div");
    approve.addEventListener("click", () =>
      busy(approve, async () => {
        const result = await call("POST", `${path}/approve`);
        out.replaceChildren(
          el("p", { text: "Approved. Give this one-time invitation code to the person, privately:" }),
          el("p", {}, el("code", { class: "secret", text: result.invitation_token || "" })),
        );
        announce("Invitation approved.");
      }),
    );
    view.append(el("section", { class: "card", "aria-label": "Approval" }, approve, out));
  }

  if (can("user.update_roles") && self) {
    view.append(el("section", { class: "card", "aria-label": "Roles" }, el("p", { class: "hint", text: "Nobody changes their own roles: another administrator (an owner, for the owner role) changes yours." })));
  } else if (can("user.update_roles")) {
    const form = el(
      "form",
      { id: "roles-form", novalidate: true, "aria-labelledby": "roles-title" },
      el("h2", { id: "roles-title", text: "Change roles" }),
      el("p", { class: "hint", text: "Takes effect on the person's next request." }),
      roleChoices("edit", user.roles),
      el("button", { type: "submit", text: "Save roles" }),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      clearErrors(form);
      busy(event.submitter, async () => {
        try {
          await call("PATCH", `${path}/roles`, { roles: chosenRoles(form), version: user.version });
        } catch (error) {
          if (error.code === "version_conflict") {
            await again("Someone changed this account meanwhile. It is reloaded: check the roles and save again.");
            return;
          }
          showFormError(form, error, { too_short: "Choose at least one role." });
          return;
        }
        await again("Roles saved.");
      });
    });
    view.append(el("section", { class: "card" }, form));
  }

  if (!user.roles.includes("patient")) await supervision(view, user, path, again);

  if (can("user.deactivate") && !self) {
    const box = el("section", { class: "card", "aria-labelledby": "access-title" }, el("h2", { id: "access-title", text: "Access" }));
    if (user.status === "deactivated") {
      // With provisioning approval on, a reactivation takes two administrators: the first
      // asks (the account stays deactivated), a second one approves.
      const asked = user.reactivation_requested_by;
      const mine = Boolean(asked && current.me && asked === current.me.id);
      const button = el("button", { type: "button", text: asked ? "Approve reactivation" : "Reactivate account", disabled: mine });
      button.addEventListener("click", () =>
        busy(button, async () => {
          const after = await call("POST", `${path}/reactivate`, { version: user.version });
          await again(after.status === "active" ? `${user.display_name} can sign in again.` : "Reactivation requested: a second administrator must approve it.");
        }),
      );
      const text = asked
        ? mine
          ? "You asked for this account's reactivation; a second administrator must approve it."
          : "Another administrator asked for this account's reactivation. Approving lets the person sign in again with their password and authenticator."
        : "This account is deactivated: it cannot sign in. Reactivating lets the person sign in again with their password and authenticator.";
      box.append(el("p", { id: "reactivation-state", text }), button);
    } else {
      const open = el("button", { type: "button", class: "danger", text: "Deactivate account" });
      const confirm = el(
        "div",
        { hidden: true, class: "confirm" },
        el("p", { id: "deactivate-what", text: `Deactivating ends all of ${user.display_name}'s sessions now and stops them signing in. Their records and history stay. You can reactivate later.` }),
        el("div", { class: "actions" },
          el("button", { type: "button", class: "danger", id: "deactivate-confirm", "aria-describedby": "deactivate-what", text: "Yes, deactivate" }),
          el("button", { type: "button", class: "quiet", id: "deactivate-cancel", text: "Keep access" }),
        ),
      );
      open.addEventListener("click", () => {
        confirm.hidden = false;
        confirm.querySelector("#deactivate-confirm").focus();
      });
      confirm.querySelector("#deactivate-cancel").addEventListener("click", () => {
        confirm.hidden = true;
        open.focus();
      });
      const yes = confirm.querySelector("#deactivate-confirm");
      yes.addEventListener("click", () =>
        busy(yes, async () => {
          await call("POST", `${path}/deactivate`, { version: user.version });
          await again(`${user.display_name} is deactivated.`);
        }),
      );
      box.append(open, confirm);
    }
    view.append(box);
  }

  if (can("user.sessions.read")) {
    const data = await call("GET", `${path}/sessions`);
    const live = data.items.filter((s) => !s.ended);
    const rows = live.map((s) => {
      const when = formatWhen(s.created_at, { dateStyle: "medium", timeStyle: "short" });
      let action = el("span");
      if (can("user.sessions.revoke")) {
        action = el("button", { type: "button", class: "quiet small", text: "End session" }, el("span", { class: "visually-hidden", text: ` started ${when}` }));
        action.addEventListener("click", () =>
          busy(action, async () => {
            await call("POST", `${path}/sessions/${encodeURIComponent(s.id)}/revoke`);
            await again(`Ended the session started ${when}.`);
          }),
        );
      }
      return [when, formatWhen(s.last_seen_at, { dateStyle: "medium", timeStyle: "short" }), s.source_ip, s.mfa ? "Yes" : "No", action];
    });
    view.append(
      el("section", { class: "card", "aria-labelledby": "user-sessions-title" },
        el("h2", { id: "user-sessions-title", text: "Sessions" }),
        table(`${user.display_name}'s sessions`, ["Started", "Last active", "Address", "Second step", ""], rows, "No live sessions."),
      ),
    );
  }
}

/** Who supervises this person (co-signs their notes, sees their care teams' risk flags),
 * and, for admins, assigning one of the practice's supervisors. */
async function supervision(view, user, path, again) {
  const [mine, everyone] = await Promise.all([
    call("GET", `${path}/supervisors`),
    can("user.update_relations") ? call("GET", "/v1/users?limit=100") : { items: [] },
  ]);
  const assigned = new Set(mine.items.map((u) => u.id));
  const box = el("section", { class: "card", "aria-labelledby": "supervision-title" },
    el("h2", { id: "supervision-title", text: "Supervision" }),
    mine.items.length
      ? el("ul", { "aria-label": "Supervisors" }, ...mine.items.map((u) => el("li", { text: u.credentials ? `${u.display_name}, ${u.credentials}` : u.display_name })))
      : el("p", { class: "empty", text: "No supervisor assigned." }));
  const candidates = everyone.items.filter((u) => u.roles.includes("supervisor") && u.status === "active" && u.id !== user.id && !assigned.has(u.id));
  if (can("user.update_relations") && candidates.length) {
    const form = el("form", { id: "supervisor-form", class: "row", novalidate: true, "aria-label": "Assign a supervisor" },
      field("Supervisor", { name: "supervisor_id" }, { tag: "select", options: candidates.map((u) => [u.id, u.display_name]), hint: "Their supervisor co-signs the notes that need it and sees their patients' risk flags." }),
      el("div", {}, el("button", { type: "submit", text: "Assign supervisor" })));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      clearErrors(form);
      const chosen = form.elements.supervisor_id;
      const name = chosen.selectedOptions[0].textContent;
      busy(event.submitter, async () => {
        try {
          await call("POST", `${path}/supervisors`, { supervisor_id: chosen.value });
        } catch (error) {
          showFormError(form, error, { not_a_supervisor: "Only someone with the supervisor role can supervise." });
          return;
        }
        await again(`${name} now supervises ${user.display_name}.`);
      });
    });
    box.append(form);
  }
  view.append(box);
}

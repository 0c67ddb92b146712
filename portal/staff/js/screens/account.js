// My account: my sessions (end any other one), my authenticator app, and (clinicians) a
// link to my hours.

import { call } from "../../../shared/api.js";
import { announce, busy, el, formatWhen, heading, table } from "../ui.js";
import { scopes } from "../permissions.js";
import { current } from "../session.js";

function device(agent) {
  if (!agent) return "Unknown device";
  const browser = /Edg\//.test(agent) ? "Edge" : /Chrome\//.test(agent) ? "Chrome" : /Firefox\//.test(agent) ? "Firefox" : /Safari\//.test(agent) ? "Safari" : "Browser or app";
  return browser;
}

async function sessions(box) {
  const data = await call("GET", "/v1/me/sessions");
  const live = data.items.filter((s) => !s.ended);
  const rows = live.map((s) => {
    const when = formatWhen(s.created_at, { dateStyle: "medium", timeStyle: "short" });
    let action;
    if (s.current) action = el("span", { text: "This session" });
    else {
      action = el("button", { type: "button", class: "quiet small", text: "End session" },
        el("span", { class: "visually-hidden", text: ` started ${when}` }));
      action.addEventListener("click", () =>
        busy(action, async () => {
          await call("POST", `/v1/me/sessions/${encodeURIComponent(s.id)}/end`);
          await sessions(box);
          announce(`Ended the session started ${when}.`);
          box.querySelector("h2").focus();
        }),
      );
    }
    return [when, formatWhen(s.last_seen_at, { dateStyle: "medium", timeStyle: "short" }), device(s.user_agent), s.source_ip, s.mfa ? "Yes" : "No", action];
  });
  box.replaceChildren(
    el("h2", { id: "sessions-title", tabindex: "-1", text: "My sessions" }),
    el("p", { class: "hint", text: "Where you are signed in now. End any session you do not recognise, then change your password." }),
    table("Sessions that have not ended", ["Started", "Last active", "Device", "Address", "Second step", ""], rows, "No other sessions."),
  );
}

export async function render(view) {
  const sessionBox = el("section", { class: "card", "aria-labelledby": "sessions-title" });
  await sessions(sessionBox);
  const mfaBox = el("section", { class: "card", "aria-labelledby": "mfa-title" });
  const replace = el("button", { type: "button", class: "quiet", text: current.me.mfa_enrolled ? "Set up a new authenticator app" : "Set up an authenticator app" });
  replace.addEventListener("click", () =>
    busy(replace, async () => {
      const { renderEnrolment } = await import("./mfa.js");
      await renderEnrolment(mfaBox, {
        first: false,
        onDone: async () => {
          current.me = await call("GET", "/v1/me");
          view.replaceChildren();
          await render(view);
          view.querySelector("h1").focus();
        },
      });
    }),
  );
  mfaBox.append(
    el("h2", { id: "mfa-title", text: "Authenticator app" }),
    el("p", { text: current.me.mfa_enrolled ? "Your account uses an authenticator app for the second sign-in step." : "Your account does not use an authenticator app yet." }),
    replace,
  );
  view.append(heading("My account"), sessionBox, mfaBox);
  if (scopes("availability.update").includes("self")) {
    view.append(el("section", { class: "card", "aria-labelledby": "hours-title" },
      el("h2", { id: "hours-title", text: "My hours" }),
      el("p", {}, el("a", { href: "#/account/hours", text: "Set my weekly hours and time off" }))));
  }
}

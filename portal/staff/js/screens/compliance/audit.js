// The audit trail viewer: filters (user, patient, action, outcome, time), newest first,
// "show more" through the API's cursor, a CSV export of what was loaded, and the chain
// verification result. Each query is itself written to the trail by the API. Filters
// stay in this page's memory (never the address).

import { call } from "../../../../shared/api.js";
import { can } from "../../permissions.js";
import { announce, busy, clearErrors, el, field, formatWhen, heading, roleName, showFormError, table } from "../../ui.js";

const OUTCOMES = [["", "Any outcome"], ["allowed", "Allowed"], ["denied", "Denied"], ["error", "Error"]];

function isoOrNull(value) {
  return value ? new Date(value).toISOString() : null; // datetime-local is the browser's zone
}

function csvCell(value) {
  const text = value === null || value === undefined ? "" : String(value);
  // A leading = + - @ would be a formula in a spreadsheet: quote it as text.
  const safe = /^[=+\-@]/.test(text) ? `'${text}` : text;
  return `"${safe.replaceAll('"', '""')}"`;
}

export async function render(view) {
  const state = { query: null, cursor: null, events: [] };
  const users = new Map();
  if (can("user.list")) {
    const data = await call("GET", "/v1/users?limit=100");
    for (const u of data.items) users.set(u.id, u.display_name);
  }
  const userField = field("User", { name: "user_id", tag: "select" }, {
    tag: "select",
    options: [["", "Anyone"], ...[...users].sort((a, b) => a[1].localeCompare(b[1])).map(([id, name]) => [id, name])],
  });
  const form = el(
    "form",
    { id: "audit-filters", novalidate: true, "aria-labelledby": "filters-title" },
    el("h2", { id: "filters-title", text: "Filters" }),
    el(
      "div",
      { class: "row" },
      userField,
      field("Patient id", { name: "patient_id", autocomplete: "off", maxlength: "40" }, { hint: "For example pat_01…; use a user or a patient, not both." }),
      field("Action", { name: "action", autocomplete: "off", maxlength: "80" }, { hint: "An action (note.sign) or a prefix ending in a dot (note.)." }),
      field("Outcome", { name: "outcome" }, { tag: "select", options: OUTCOMES }),
    ),
    el(
      "div",
      { class: "row" },
      field("From", { name: "from", type: "datetime-local" }),
      field("To", { name: "to", type: "datetime-local" }, { hint: "Not included." }),
    ),
    el("div", { class: "actions" }, el("button", { type: "submit", text: "Show events" })),
  );
  const results = el("section", { id: "audit-results", "aria-labelledby": "results-title" });
  const more = el("button", { type: "button", class: "quiet", text: "Show more", hidden: true });

  function row(e) {
    const who = e.actor_kind === "user" ? users.get(e.actor_id) || e.actor_id : `${e.actor_kind}: ${e.actor_id}`;
    return [
      formatWhen(e.time, { dateStyle: "medium", timeStyle: "medium" }),
      who,
      e.roles.map(roleName).join(", "),
      e.action,
      e.resource_id ? `${e.resource_kind} ${e.resource_id}` : e.resource_kind,
      e.patient_id || "",
      e.break_glass ? `${e.outcome} (emergency access)` : e.outcome,
      e.reason_code || "",
      String(e.seq),
    ];
  }

  function draw() {
    results.replaceChildren(
      el("h2", { id: "results-title", tabindex: "-1", text: "Events" }),
      el("p", { class: "hint", text: `${state.events.length} event${state.events.length === 1 ? "" : "s"} shown, newest first.` }),
      table(
        "Audit events matching the filters",
        ["Time", "Who", "Roles", "Action", "Record", "Patient", "Outcome", "Reason", "Seq"],
        state.events.map(row),
        "No events match these filters.",
      ),
    );
    more.hidden = !state.cursor;
  }

  async function load(first) {
    const q = new URLSearchParams(state.query);
    q.set("limit", "50");
    if (!first && state.cursor) q.set("cursor", state.cursor);
    const page = await call("GET", `/v1/audit-events?${q}`);
    state.events = first ? page.items : [...state.events, ...page.items];
    state.cursor = page.next_cursor;
    draw();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form);
    const f = form.elements;
    const query = {};
    for (const name of ["user_id", "patient_id", "action", "outcome"]) {
      const value = f[name].value.trim();
      if (value) query[name] = value;
    }
    const from = isoOrNull(f.from.value);
    const to = isoOrNull(f.to.value);
    if (from) query.from = from;
    if (to) query.to = to;
    busy(event.submitter, async () => {
      state.query = query;
      try {
        await load(true);
      } catch (error) {
        showFormError(form, error, { choose_one_filter: "Choose a user or a patient, not both.", string_pattern_mismatch: "Check the format." });
        return;
      }
      announce(`${state.events.length} events shown.`);
    });
  });
  more.addEventListener("click", () =>
    busy(more, async () => {
      const before = state.events.length;
      await load(false);
      announce(`${state.events.length - before} more events shown.`);
    }),
  );

  const tools = el("div", { class: "actions" });
  if (can("audit.export")) {
    const exportButton = el("button", { type: "button", class: "quiet", text: "Export shown events (CSV)" });
    exportButton.addEventListener("click", () => {
      const header = ["time", "seq", "actor_kind", "actor_id", "roles", "action", "resource_kind", "resource_id", "patient_id", "outcome", "break_glass", "reason_code", "source_ip", "request_id", "hash"];
      const lines = [header.join(",")].concat(state.events.map((e) => header.map((k) => csvCell(Array.isArray(e[k]) ? e[k].join(" ") : e[k])).join(",")));
      const blob = new Blob([lines.join("\r\n")], { type: "text/csv" });
      const url = URL.createObjectURL(blob);
      const link = el("a", { href: url, download: "audit-events.csv", hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
      announce(`Exported ${state.events.length} events.`);
    });
    tools.append(exportButton);
  }
  const verifyBox = el("section", { class: "card", "aria-labelledby": "verify-title" },
    el("h2", { id: "verify-title", text: "Chain verification" }),
    el("p", { class: "hint", text: "Checks every event's hash link and the signed checkpoints, from the first event to the last." }),
  );
  if (can("audit.verify")) {
    const verify = el("button", { type: "button", text: "Verify the audit chain" });
    const outcome = el("div", { id: "verify-result" });
    verify.addEventListener("click", () =>
      busy(verify, async () => {
        const r = await call("POST", "/v1/audit/verify");
        // A span lost to an acknowledged point-in-time restore is always said, never hidden.
        const restores = (r.acknowledged_restores || []).map((x) =>
          `Events ${x.lost_from_seq}–${x.lost_to_seq} were lost to a restore of the database to ${x.restore_point}, acknowledged by ${x.acknowledged_by} at ${x.acknowledged_at}.`);
        const summary = r.ok
          ? `Chain intact${restores.length ? " apart from an acknowledged restore" : ""}: ${r.events_checked} events checked (last seq ${r.last_seq}), ${r.checkpoints_checked} checkpoints (${r.sealed_checkpoints_checked} sealed).`
          : `Problems found: ${r.problems.length}. ${r.events_checked} events checked.`;
        outcome.replaceChildren(
          el("p", { class: r.ok ? "notice" : "alert", text: summary }),
          ...restores.map((text) => el("p", { class: "notice", text })),
          r.problems.length
            ? table("Problems", ["Seq", "Kind", "Detail"], r.problems.map((p) => [String(p.seq), p.kind, p.detail]))
            : el("span"),
        );
        announce(summary);
      }),
    );
    verifyBox.append(verify, outcome);
  }
  view.append(heading("Audit trail"), form, tools, results, more, verifyBox);
  state.query = {};
  await load(true);
}

// The practice's messaging policy: business hours (outside them a patient who writes gets
// the after-hours reply, with crisis resources), closed days, the expected response time
// after which an unanswered patient message moves to the practice queue, the after-hours
// reply itself, how long messages are kept, and the wording of the "a message is waiting"
// email and text (checked by the reminder content linter: no clinical words, only the
// practice's name and the portal link). Saved with the version it was loaded at.

import { call } from "../../../../shared/api.js";
import { announce, busy, clearErrors, el, field, heading, showError, showFormError } from "../../ui.js";

const DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const WORDS = {
  clinical_content: "Notices may not name a diagnosis, service or treatment.",
  placeholder_not_allowed: "Only {practice_name} and {portal_link} may be used.",
  placeholder_malformed: "Write a placeholder as {name}.",
  unbalanced_brace: "Braces must enclose a placeholder name.",
  portal_link_required: "Say where to read the message: include {portal_link}.",
  greater_than_equal: "This is too small.",
  less_than_equal: "This is too large.",
  int_parsing: "Enter a whole number.",
  time_parsing: "Enter a time.",
  date_from_datetime_parsing: "Enter real dates, one a line (YYYY-MM-DD).",
  date_parsing: "Enter real dates, one a line (YYYY-MM-DD).",
  value_error: "A window ends after it starts, on the same day.",
};

function windowRow(w, onRemove) {
  const index = Math.random().toString(36).slice(2, 8);
  const day = el("select", { id: `day-${index}`, "aria-label": "Day" }, ...DAYS.map((d, i) => el("option", { value: String(i), text: d })));
  day.value = String(w.weekday);
  const start = el("input", { id: `start-${index}`, type: "time", value: w.start.slice(0, 5), "aria-label": `Opens (${DAYS[w.weekday]})` });
  const end = el("input", { id: `end-${index}`, type: "time", value: w.end.slice(0, 5), "aria-label": `Closes (${DAYS[w.weekday]})` });
  day.addEventListener("change", () => {
    start.setAttribute("aria-label", `Opens (${DAYS[Number(day.value)]})`);
    end.setAttribute("aria-label", `Closes (${DAYS[Number(day.value)]})`);
  });
  const remove = el("button", { type: "button", class: "quiet small", text: "Remove" }, el("span", { class: "visually-hidden", text: " these hours" }));
  const row = el("tr", { class: "window" }, el("td", {}, day), el("td", {}, start), el("td", {}, end), el("td", {}, remove));
  remove.addEventListener("click", () => onRemove(row));
  return row;
}

function windows(form) {
  return [...form.querySelectorAll("tr.window")].map((tr) => {
    const [day, start, end] = tr.querySelectorAll("select, input");
    return { weekday: Number(day.value), start: start.value, end: end.value };
  });
}

async function build(box) {
  const practice = await call("GET", "/v1/practice");
  const m = practice.settings.messaging;
  const body = el("tbody");
  const remove = (row) => {
    row.remove();
    announce("Hours removed. Save to keep the change.");
    form.querySelector("#add-window").focus();
  };
  for (const w of m.business_hours) body.append(windowRow(w, remove));
  const add = el("button", { type: "button", class: "quiet", id: "add-window", text: "Add opening hours" });
  add.addEventListener("click", () => {
    const row = windowRow({ weekday: 0, start: "09:00", end: "17:00" }, remove);
    body.append(row);
    row.querySelector("select").focus();
  });
  const num = (name, label, min, max, hint) => {
    const f = field(label, { name, type: "number", min: String(min), max: String(max), value: String(m[name]) }, { hint });
    f.dataset.field = `messaging.${name}`;
    return f;
  };
  const text = (name, label, { rows = 0, max = 1500, hint = "", linted = false } = {}) => {
    const f = rows
      ? field(label, { name, rows: String(rows), maxlength: String(max) }, { tag: "textarea", hint })
      : field(label, { name, maxlength: String(max), value: m[name], autocomplete: "off" }, { hint });
    if (rows) f.querySelector("textarea").value = m[name];
    f.dataset.field = linted ? `settings.messaging.${name}` : `messaging.${name}`;
    return f;
  };
  const check = (name, label) =>
    el("div", { class: "check" }, el("input", { type: "checkbox", id: `set-${name}`, name, checked: m[name] }), el("label", { for: `set-${name}`, text: label }));
  const closed = field("Closed days (holidays)", { name: "closed_dates", rows: "3" }, { tag: "textarea", hint: "One date a line, like 2026-12-25. A message on a closed day gets the after-hours reply." });
  closed.querySelector("textarea").value = m.closed_dates.join("\n");
  closed.dataset.field = "messaging.closed_dates";

  const form = el("form", { id: "policy-form", novalidate: true, "aria-label": "Messaging policy" },
    el("h2", { text: "Business hours" }),
    el("p", { class: "hint", text: `In the practice's time zone (${practice.timezone || "local"}). Outside these hours a patient who writes sees the after-hours reply.` }),
    el("div", { class: "field", "data-field": "messaging.business_hours" },
      el("p", { class: "field-error", hidden: true, id: "hours-error" }),
      el("div", { class: "scroll", tabindex: "0", role: "region", "aria-label": "Business hours" },
        el("table", {}, el("caption", { text: "Opening hours" }),
          el("thead", {}, el("tr", {}, ...["Day", "Opens", "Closes", ""].map((t) => el("th", { scope: "col", text: t })))),
          body))),
    add,
    closed,
    el("h2", { text: "Response and escalation" }),
    num("expected_response_hours", "Expected response time, in hours", 1, 336, "An unanswered patient message moves to the practice queue after this long."),
    check("escalation_enabled", "Move unanswered patient messages to the practice queue"),
    text("auto_reply_text", "After-hours reply", { rows: 5, max: 1500, hint: "Shown to a patient writing outside business hours and added to the conversation. Include crisis resources." }),
    el("h2", { text: "Retention" }),
    num("retention_years", "Keep messages for this many years after a conversation's last activity", 6, 100, "At least six. Nothing is deleted inside retention or while on legal hold."),
    el("h2", { text: "Notices" }),
    check("notify_staff", "Email staff when a patient writes (the email says only that a message is waiting)"),
    text("notification_subject", "Email subject", { max: 150, linted: true, hint: "Only {practice_name} and {portal_link} may be used." }),
    text("notification_body", "Email text", { rows: 4, max: 1000, linted: true, hint: "Must include {portal_link}. Never the message, never a clinical word." }),
    text("notification_sms", "Text message", { rows: 2, max: 320, linted: true, hint: "Must include {portal_link}; at most 320 characters." }),
    el("button", { type: "submit", text: "Save messaging policy" }),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form);
    const f = form.elements;
    const messaging = {
      business_hours: windows(form),
      closed_dates: f.closed_dates.value.split(/\s+/).filter(Boolean),
      expected_response_hours: Number.parseInt(f.expected_response_hours.value, 10),
      escalation_enabled: f.escalation_enabled.checked,
      auto_reply_text: f.auto_reply_text.value,
      retention_years: Number.parseInt(f.retention_years.value, 10),
      notify_staff: f.notify_staff.checked,
      notification_subject: f.notification_subject.value,
      notification_body: f.notification_body.value,
      notification_sms: f.notification_sms.value,
    };
    busy(event.submitter, async () => {
      try {
        await call("PATCH", "/v1/practice/settings", { version: practice.version, settings: { messaging } });
      } catch (error) {
        if (error.code === "version_conflict") {
          box.replaceChildren(...(await build(box)));
          showError("The settings changed meanwhile. They are reloaded: check them and save again.");
          return;
        }
        showFormError(form, error, WORDS);
        return;
      }
      box.replaceChildren(...(await build(box)));
      announce("Messaging policy saved.");
    });
  });
  return [form];
}

export async function render(view) {
  const box = el("div");
  box.append(...(await build(box)));
  view.append(heading("Messaging policy"), box);
}

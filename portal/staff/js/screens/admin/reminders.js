// Reminder rules and templates (owner/admin): which messages go out when and by which
// channel, the six message templates, quiet hours and the practice's SMS number. The API's
// content linter checks every save; its messages (a placeholder that is not allowed, a
// clinical term such as "therapy", an SMS over 320 characters) are shown next to the field
// they are about, with an error summary at the top. Every save carries the version it was
// loaded at (409 reloads with a message).

import { call } from "../../../../shared/api.js";
import { can } from "../../permissions.js";
import { announce, busy, clearErrors, el, field, formatWhen, heading, showError, showFormError, table } from "../../ui.js";

const KINDS = [["confirmation", "Confirmation, at booking"], ["reminder", "Reminder, before the visit"]];
const CHANNELS = [["email", "Email"], ["sms", "Text message (SMS)"]];
const TEMPLATES = [
  ["confirmation_email", "Confirmation by email"],
  ["confirmation_sms", "Confirmation by text message"],
  ["reminder_email", "Reminder by email"],
  ["reminder_sms", "Reminder by text message"],
  ["waitlist_offer_email", "Waitlist offer by email"],
  ["waitlist_offer_sms", "Waitlist offer by text message"],
];

/** The linter's own words (they name the term or the allowed placeholders), else ours. */
const linted = (problem) => problem.message || "This is not allowed.";
const WORDS = {
  clinical_content: linted,
  placeholder_not_allowed: linted,
  placeholder_malformed: linted,
  unbalanced_brace: linted,
  too_long: linted,
  not_allowed: linted,
  missing: (problem) => problem.message || "Enter this.",
  missing_template: linted,
  unknown_template: linted,
  in_use: "Another practice already uses this number.",
  value_error: (problem) => String(problem.message || "This is not valid.").replace(/^Value error, /, ""),
  string_pattern_mismatch: "Use the international format, like +15125550100.",
};

let seq = 0;

function ruleBox(rule, editable, onRemove) {
  seq += 1;
  const id = `rule${seq}`;
  const errorId = `${id}-error`;
  const kind = field("Sends", { name: "kind", id: `${id}-kind`, disabled: !editable }, { tag: "select", options: KINDS });
  const channel = field("By", { name: "channel", id: `${id}-channel`, disabled: !editable }, { tag: "select", options: CHANNELS });
  const hours = field("Hours before the visit", { name: "hours_before", id: `${id}-hours`, type: "number", min: "0", max: "720", value: String(rule.hours_before), disabled: !editable });
  kind.querySelector("select").value = rule.kind;
  channel.querySelector("select").value = rule.channel;
  const hoursInput = hours.querySelector("input");
  const kindSelect = kind.querySelector("select");
  const sync = () => {
    if (kindSelect.value === "confirmation") {
      hoursInput.value = "0";
      hoursInput.readOnly = true;
    } else {
      hoursInput.readOnly = false;
      if (hoursInput.value === "0") hoursInput.value = "24";
    }
  };
  kindSelect.addEventListener("change", sync);
  if (rule.kind === "confirmation") hoursInput.readOnly = true;
  const active = el("div", { class: "check" },
    el("input", { type: "checkbox", id: `${id}-active`, name: "active", checked: rule.active !== false, disabled: !editable }),
    el("label", { for: `${id}-active`, text: "Active" }));
  const box = el("fieldset", { class: "rule", "data-rule-id": rule.id },
    el("legend", { text: "" }),
    el("p", { id: errorId, class: "field-error", hidden: true }),
    el("div", { class: "row" }, kind, channel, hours),
    active);
  if (editable) {
    const remove = el("button", { type: "button", class: "quiet small", text: "Remove this rule" });
    remove.addEventListener("click", () => onRemove(box));
    box.append(remove);
  }
  return box;
}

function templateBox(key, label, template, placeholders, editable) {
  const email = key.endsWith("_email");
  const hint = `You may use ${placeholders.map((p) => `{${p}}`).join(", ")}.`;
  const subject = email
    ? field(`${label}: subject`, { name: `templates.${key}.subject`, id: `t-${key}-subject`, maxlength: "150", value: template ? template.subject || "" : "", autocomplete: "off", disabled: !editable })
    : null;
  const body = field(`${label}: message`, { name: `templates.${key}.body`, id: `t-${key}-body`, rows: email ? "6" : "3", maxlength: "2000", disabled: !editable }, { tag: "textarea", hint: email ? hint : `${hint} At most 320 characters.` });
  body.querySelector("textarea").value = template ? template.body : "";
  return el("fieldset", { class: "template", "data-template": key, "data-field": `templates.${key}` },
    el("legend", { text: label }),
    el("p", { id: `t-${key}-error`, class: "field-error", hidden: true }),
    subject, body);
}

function numberRules(list) {
  [...list.querySelectorAll("fieldset.rule")].forEach((box, i) => {
    box.querySelector("legend").textContent = `Rule ${i + 1}`;
    box.dataset.field = `rules.${i}`;
    for (const part of box.querySelectorAll(".field")) {
      part.dataset.field = `rules.${i}.${part.querySelector("[name]").getAttribute("name")}`;
    }
  });
}

function newRuleId(list) {
  const taken = new Set([...list.querySelectorAll("fieldset.rule")].map((b) => b.dataset.ruleId));
  let n = 1;
  while (taken.has(`rule-${n}`)) n += 1;
  return `rule-${n}`;
}

function collect(form, list, existing) {
  const rules = [...list.querySelectorAll("fieldset.rule")].map((box) => ({
    id: box.dataset.ruleId,
    kind: box.querySelector("[name=kind]").value,
    channel: box.querySelector("[name=channel]").value,
    hours_before: Number.parseInt(box.querySelector("[name=hours_before]").value || "0", 10),
    active: box.querySelector("[name=active]").checked,
  }));
  const templates = {};
  for (const [key] of TEMPLATES) {
    const subject = form.elements[`templates.${key}.subject`];
    const template = { body: form.elements[`templates.${key}.body`].value };
    if (subject) template.subject = subject.value.trim() || null;
    // A template the practice never had, left empty, stays absent (a rule that needs it
    // is named by the API); one it had must keep a body.
    if (!template.body.trim() && !template.subject && !(key in existing)) continue;
    templates[key] = template;
  }
  const f = form.elements;
  return {
    rules,
    templates,
    quiet_hours: { enabled: f.quiet_enabled.checked, start: f["quiet_hours.start"].value, end: f["quiet_hours.end"].value },
    allow_clinician_name: f.allow_clinician_name.checked,
    feed_patient_initials: f.feed_patient_initials.checked,
    sms_number: f.sms_number.value.trim() || null,
  };
}

async function build(view) {
  const settings = await call("GET", "/v1/reminder-settings");
  const editable = can("reminder.settings.update");
  const list = el("div", { id: "rule-list" });
  const remove = (box) => {
    const next = box.nextElementSibling || box.previousElementSibling;
    box.remove();
    numberRules(list);
    announce("Rule removed. Save to keep the change.");
    (next ? next.querySelector("select") : addRule).focus();
  };
  for (const rule of settings.rules) list.append(ruleBox(rule, editable, remove));
  numberRules(list);
  const addRule = el("button", { type: "button", class: "quiet", text: "Add a rule", hidden: !editable });
  addRule.addEventListener("click", () => {
    const box = ruleBox({ id: newRuleId(list), kind: "reminder", channel: "email", hours_before: 24, active: true }, true, remove);
    list.append(box);
    numberRules(list);
    box.querySelector("select").focus();
    announce(`${box.querySelector("legend").textContent} added. Save to keep it.`);
  });

  const q = settings.quiet_hours;
  const form = el("form", { id: "reminders-form", novalidate: true, "aria-label": "Reminder settings" },
    el("section", { class: "card", "aria-labelledby": "rules-title" },
      el("h2", { id: "rules-title", text: "When reminders go out" }),
      el("p", { class: "hint", text: "Each rule sends the matching template below. A confirmation goes at booking (0 hours); a reminder at least one hour before the visit, and one whose time has passed at booking is skipped." }),
      list, addRule),
    el("section", { class: "card", "aria-labelledby": "templates-title" },
      el("h2", { id: "templates-title", text: "Message templates" }),
      el("p", { class: "hint", text: "Reminders say who, when and from whom — never what the visit is for. Words that name a diagnosis, a service or a treatment (and your own service names) are refused when you save." }),
      ...TEMPLATES.map(([key, label]) => templateBox(key, label, settings.templates[key], settings.allowed_placeholders, editable))),
    el("section", { class: "card", "aria-labelledby": "delivery-title" },
      el("h2", { id: "delivery-title", text: "Quiet hours and options" }),
      el("div", { class: "check" },
        el("input", { type: "checkbox", id: "quiet-enabled", name: "quiet_enabled", checked: q.enabled, disabled: !editable }),
        el("label", { for: "quiet-enabled", text: "Hold messages during quiet hours (the practice's time zone)" })),
      el("div", { class: "row", "data-field": "quiet_hours" },
        field("Quiet from", { name: "quiet_hours.start", type: "time", value: String(q.start).slice(0, 5), disabled: !editable }),
        field("Quiet until", { name: "quiet_hours.end", type: "time", value: String(q.end).slice(0, 5), disabled: !editable })),
      el("div", { class: "check" },
        el("input", { type: "checkbox", id: "allow-clinician", name: "allow_clinician_name", checked: settings.allow_clinician_name, disabled: !editable }),
        el("label", { for: "allow-clinician", text: "Reminders may name the clinician ({clinician_name})" })),
      el("div", { class: "check" },
        el("input", { type: "checkbox", id: "feed-initials", name: "feed_patient_initials", checked: settings.feed_patient_initials, disabled: !editable }),
        el("label", { for: "feed-initials", text: "Clinicians' calendar feeds show patient initials" })),
      field("Practice SMS number", { name: "sms_number", value: settings.sms_number || "", maxlength: "16", autocomplete: "off", inputmode: "tel", disabled: !editable }, { hint: "International format, like +15125550100. Replies of STOP to it end a patient's text reminders." })),
    editable ? el("button", { type: "submit", text: "Save reminder settings" }) : el("p", { class: "hint", text: "Your role can read these settings but not change them." }),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form);
    const body = { version: settings.version, ...collect(form, list, settings.templates) };
    busy(event.submitter, async () => {
      try {
        await call("PUT", "/v1/reminder-settings", body);
      } catch (error) {
        if (error.code === "version_conflict") {
          await fill(view);
          showError("Someone changed the reminder settings meanwhile. They are reloaded: make your change again and save.");
          return;
        }
        showFormError(form, error, WORDS);
        return;
      }
      await fill(view);
      announce("Reminder settings saved. Messages not yet sent use them.");
    });
  });
  return form;
}

async function fill(view) {
  const form = await build(view);
  const old = view.querySelector("#reminders-form");
  if (old) old.replaceWith(form);
  else view.append(form);
}

/** What was sent (the delivery log): recipients masked by the API; each read audited. */
async function sentPart(view) {
  const box = el("section", { class: "card", id: "sent", "aria-labelledby": "sent-title" },
    el("h2", { id: "sent-title", text: "Recently sent" }));
  const list = el("div");
  const more = el("button", { type: "button", class: "quiet", text: "Show more", hidden: true });
  const rows = [];
  let cursor = null;
  async function page() {
    const q = new URLSearchParams({ limit: "25" });
    if (cursor) q.set("cursor", cursor);
    const data = await call("GET", `/v1/outbox?${q}`);
    for (const m of data.items) {
      rows.push([
        formatWhen(m.sent_at, { dateStyle: "medium", timeStyle: "short" }),
        m.channel === "sms" ? "Text message" : "Email",
        m.to,
        m.subject || "",
        el("details", {}, el("summary", { text: "Message" }), el("p", { class: "sent-text", text: m.text })),
      ]);
    }
    cursor = data.next_cursor;
    more.hidden = !cursor;
    list.replaceChildren(table("Messages sent to patients, latest first", ["Sent", "By", "To", "Subject", ""], rows, "Nothing sent yet."));
  }
  more.addEventListener("click", () => busy(more, async () => {
    const before = rows.length;
    await page();
    announce(`${rows.length - before} more shown.`);
  }));
  await page();
  box.append(list, more);
  view.append(box);
}

export async function render(view) {
  view.append(heading("Reminders"));
  await fill(view);
  if (can("outbox.read")) await sentPart(view);
}

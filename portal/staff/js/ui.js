// The staff app's helpers: the shared DOM/time helpers plus staff wording for errors, an
// error summary with messages next to fields (GOV.UK pattern), and small builders for the
// tables and forms every screen uses. Data is set as text only, never as markup.

import { busyWith, describer, el, showError } from "../../shared/ui.js";

export {
  $,
  announce,
  el,
  formatDay,
  formatTime,
  formatWhen,
  localDate,
  showError,
  useTimeZone,
  zoneName,
} from "../../shared/ui.js";

const MESSAGES = {
  forbidden: "Your role cannot do that. Ask an administrator if you need it.",
  conflict: "That clashes with something else. Read the details, change it and try again.",
  slot_unavailable: "That time was just taken. Pick another time.",
  mfa_enrolment_required: "Set up your authenticator app first.",
  session_expired: "Your session has ended. Sign in again.",
  already_exists: "That already exists.",
};
const RULES = {};

/** Screens add wording for their own error codes and rules (e.g. a billing rule). */
export function addMessages(messages = {}, rules = {}) {
  Object.assign(MESSAGES, messages);
  Object.assign(RULES, rules);
}

/** What an API error means for the person, and what to do next. */
export function describeNow(error) {
  return describer(MESSAGES, RULES)(error);
}

/** Run an async action with its button disabled; errors show in the alert region. */
export function busy(button, action) {
  return busyWith(describeNow, button, action);
}

/** The page heading every screen starts with (the router focuses it). */
export function heading(text, level = "h1") {
  return el(level, { tabindex: "-1", text });
}

/** A table with a caption; `columns` are header texts, `rows` arrays of cells (nodes or
 * text). An empty table shows `empty` instead. */
export function table(caption, columns, rows, empty = "Nothing to show.") {
  if (!rows.length) return el("p", { class: "empty", text: empty });
  // A wide table scrolls inside its own region, which keyboard users can focus and scroll.
  return el(
    "div",
    { class: "scroll", tabindex: "0", role: "region", "aria-label": caption },
    el(
      "table",
      {},
      el("caption", { text: caption }),
      el("thead", {}, el("tr", {}, ...columns.map((c) => el("th", { scope: "col", text: c })))),
      el(
        "tbody",
        {},
        ...rows.map((cells) =>
          el(
            "tr",
            {},
            ...cells.map((c) => (c instanceof Node ? el("td", {}, c) : el("td", { text: c ?? "" }))),
          ),
        ),
      ),
    ),
  );
}

let fieldSeq = 0;

/** A labelled input (or select/textarea via `tag`) with an optional hint and an error slot. */
export function field(label, attrs = {}, { hint = "", tag = "input", options = null } = {}) {
  const id = attrs.id || `f${(fieldSeq += 1)}`;
  const hintId = hint ? `${id}-hint` : null;
  const errorId = `${id}-error`;
  const control = el(tag, {
    ...attrs,
    id,
    "aria-describedby": [hintId, attrs["aria-describedby"]].filter(Boolean).join(" ") || null,
  });
  if (options) {
    for (const [value, text] of options) control.append(el("option", { value, text }));
  }
  return el(
    "div",
    { class: "field", "data-field": attrs.name || "" },
    el("label", { for: id, text: label }),
    hint ? el("p", { id: hintId, class: "hint", text: hint }) : null,
    el("p", { id: errorId, class: "field-error", hidden: true }),
    control,
  );
}

const FIELD_WORDS = {
  missing: "Enter this.",
  string_too_short: "This is too short.",
  string_too_long: "This is too long.",
  string_pattern_mismatch: "This is not in the right format.",
  date_from_datetime_parsing: "Enter a real date.",
  date_parsing: "Enter a real date.",
  value_error: "This is not valid.",
  required_at_signing: "Complete this before signing.",
  required: "Answer this before signing.",
  invalid_code: "That code did not work. Check your app and try again.",
  incorrect: "That is not right.",
};

function fieldName(path) {
  // "body.legal_first_name" -> "legal_first_name"; "body.content.plan" -> "content.plan"
  return String(path || "").replace(/^(body|query|path)\./, "");
}

/** Clears earlier field errors and the summary inside `form`. */
export function clearErrors(form) {
  for (const node of form.querySelectorAll(".field-error")) {
    node.hidden = true;
    node.textContent = "";
  }
  for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
  const summary = form.querySelector(".error-summary");
  if (summary) summary.remove();
}

/** Shows an API error on a form: field-level messages next to their fields and an error
 * summary at the top linking to each (GOV.UK pattern); other errors go to the alert. */
export function showFormError(form, error, words = {}) {
  clearErrors(form);
  const fields = (error && error.details && error.details.fields) || [];
  if (!fields.length) {
    showError(describeNow(error));
    return;
  }
  showError("");
  const items = [];
  for (const problem of fields) {
    const name = fieldName(problem.path);
    const box = form.querySelector(`[data-field="${CSS.escape(name)}"]`);
    // A screen's words may be a function of the problem (e.g. to show a linter's message).
    const own = words[problem.type];
    const text = (typeof own === "function" ? own(problem) : own) || FIELD_WORDS[problem.type] || "This is not valid.";
    if (box) {
      const message = box.querySelector(".field-error");
      const control = box.querySelector("input, select, textarea, fieldset");
      const label = box.querySelector("label, legend");
      // Several problems with one field are all shown (e.g. a placeholder and a term).
      message.textContent = message.hidden ? text : `${message.textContent} ${text}`;
      message.hidden = false;
      if (control) {
        control.setAttribute("aria-invalid", "true");
        const ids = new Set((control.getAttribute("aria-describedby") || "").split(" "));
        ids.add(message.id);
        control.setAttribute("aria-describedby", [...ids].filter(Boolean).join(" "));
      }
      const target = control ? control.id : "";
      items.push(
        el(
          "li",
          {},
          el("a", {
            href: `#${target}`,
            text: `${label ? label.textContent : name}: ${text}`,
            onclick: (e) => {
              e.preventDefault();
              if (control) control.focus();
            },
          }),
        ),
      );
    } else {
      items.push(el("li", { text: `${name || "Request"}: ${text}` }));
    }
  }
  const summary = el(
    "div",
    { class: "error-summary", tabindex: "-1", role: "alert", "aria-labelledby": "error-summary-title" },
    el("h2", { id: "error-summary-title", text: "There is a problem" }),
    el("ul", {}, ...items),
  );
  form.prepend(summary);
  summary.focus();
}

/** Friendly words for a role name: "front_desk" -> "Front desk". */
export function roleName(role) {
  const text = String(role).replaceAll("_", " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

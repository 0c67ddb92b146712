// "Questionnaires": measures the practice asked the patient to fill in (PHQ-9, GAD-7, …).
// Each question is a fieldset whose legend is the question, with one radio per answer. After
// submitting, the patient is thanked, not shown a score: the clinician reads and explains
// the result (see tpm/services/measures.py). Answers are not watched as they arrive, so the
// form says where to get help now.

import { call } from "../shared/api.js";
import { $, announce, busy, el, formatWhen, showError } from "./ui.js";

const CRISIS =
  "Your answers are not read right away. If you are thinking about hurting yourself, or are " +
  "in danger, call or text 988 (Suicide & Crisis Lifeline) or call 911 now.";

function item(request) {
  const due = request.due_at
    ? `Please fill it in by ${formatWhen(request.due_at, { dateStyle: "full", timeStyle: "short" })}.`
    : "Please fill it in before your next visit.";
  return el(
    "li",
    { class: "appt" },
    el("p", { class: "when", text: request.title }),
    el("p", { text: due }),
    el(
      "button",
      { type: "button", onclick: (e) => busy(e.currentTarget, () => open(request.id)) },
      "Start",
      el("span", { class: "visually-hidden", text: ` ${request.title}` }),
    ),
  );
}

function question(entry) {
  const legend = entry.text ? `${entry.number}. ${entry.text}` : `Question ${entry.number}`;
  return el(
    "fieldset",
    { "data-item": entry.id },
    el("legend", { text: legend }),
    ...entry.options.map((option) => {
      const id = `measure-${entry.id}-${option.value}`;
      return el(
        "div",
        { class: "check" },
        el("input", { type: "radio", id, name: entry.id, value: String(option.value) }),
        el("label", { for: id, text: option.label }),
      );
    }),
  );
}

function answersOf(form, items) {
  const answers = {};
  const missing = [];
  for (const entry of items) {
    const chosen = form.querySelector(`input[name="${entry.id}"]:checked`);
    if (chosen) answers[entry.id] = Number(chosen.value);
    else missing.push(entry);
  }
  return { answers, missing };
}

function close() {
  $("measure-area").replaceChildren();
  $("measure-area").hidden = true;
}

function thank(title) {
  const heading = el("h3", { id: "measure-done", tabindex: "-1", text: "Thank you" });
  $("measure-area").replaceChildren(
    heading,
    el("p", {
      text: `Your answers to the ${title} were sent to your clinician, who will go over them with you.`,
    }),
    el("p", { class: "notice", text: CRISIS }),
  );
  heading.focus();
  announce("Thank you. Your answers were sent.");
}

async function submit(event, requestId, form, items, title) {
  event.preventDefault();
  const { answers, missing } = answersOf(form, items);
  for (const set of form.querySelectorAll("fieldset")) set.removeAttribute("aria-invalid");
  if (missing.length) {
    for (const entry of missing) {
      form.querySelector(`fieldset[data-item="${entry.id}"]`).setAttribute("aria-invalid", "true");
    }
    const numbers = missing.map((m) => m.number).join(", ");
    showError(`Please answer every question (not answered yet: ${numbers}).`);
    form.querySelector(`input[name="${missing[0].id}"]`).focus();
    return;
  }
  await busy(form.querySelector("button[type=submit]"), async () => {
    await call("POST", `/v1/me/measure-requests/${encodeURIComponent(requestId)}/responses`, {
      answers,
    });
    thank(title);
    await loadMeasures();
  });
}

async function open(requestId) {
  const data = await call("GET", `/v1/me/measure-requests/${encodeURIComponent(requestId)}`);
  const heading = el("h3", { id: "measure-title", tabindex: "-1", text: data.title });
  const form = el(
    "form",
    { id: "measure-form", "aria-labelledby": "measure-title", novalidate: true },
    data.instructions ? el("p", { text: data.instructions }) : null,
    ...data.items.map(question),
    el("p", { class: "notice", text: CRISIS }),
    data.source ? el("p", { class: "hint", text: `Source: ${data.source}` }) : null,
    el(
      "div",
      { class: "actions" },
      el("button", { type: "submit", text: "Send my answers" }),
      el("button", { type: "button", class: "quiet", onclick: close, text: "Not now" }),
    ),
  );
  form.addEventListener("submit", (event) =>
    submit(event, requestId, form, data.items, data.title),
  );
  $("measure-area").replaceChildren(heading, form);
  $("measure-area").hidden = false;
  heading.focus();
}

export async function loadMeasures() {
  const data = await call("GET", "/v1/me/measure-requests?limit=25");
  $("measures-list").replaceChildren(...data.items.map(item));
  $("measures-empty").hidden = data.items.length > 0;
}

export function resetMeasures() {
  $("measures-list").replaceChildren();
  close();
}

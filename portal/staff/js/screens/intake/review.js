// One intake: where it stands (steps, reminders, stall), the packet the patient submitted —
// form answers drawn with their template's labels (care team only: the API leaves them out
// for the office roles), each form's version history and what changed, the consents with
// their e-signature evidence and signed PDFs, the insurance card photos — and the staff
// actions the role holds: approve or send back to a step with a comment (the patient's
// clinician), resend the invitation, restart or cancel the workflow, link the first visit.

import { call } from "../../../../shared/api.js";
import { can } from "../../permissions.js";
import { announce, busy, clearErrors, el, field, formatWhen, heading, showFormError, table } from "../../ui.js";
import { staffNames } from "../clinical/flag-ack.js";
import { patientName } from "../patients/search.js";
import { statusCell } from "./queue.js";
import { STEP, STEP_STATUS } from "./words.js";

const WHEN = { dateStyle: "medium", timeStyle: "short" };
const OPEN = new Set(["invited", "in_progress", "in_review", "changes_requested", "scheduling", "stalled"]);
const REOPENABLE = ["forms", "consents", "insurance"];
const DAY = 86_400_000;

function card(id, title, ...children) {
  return el("section", { class: "card", id, "aria-labelledby": `${id}-title` }, el("h2", { id: `${id}-title`, text: title }), ...children);
}

function words(value) {
  if (value === true) return "Yes";
  if (value === false) return "No";
  if (value === null || value === undefined || value === "") return "—";
  if (Array.isArray(value)) return value.map(words).join(", ");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value).replaceAll("_", " ");
}

/** Answers as a definition list, labelled by the template's JSON Schema titles. */
function answers(schema, content, prefix = "") {
  const rows = [];
  const props = (schema && schema.properties) || {};
  const keys = [...new Set([...Object.keys(props), ...Object.keys(content || {})])];
  for (const key of keys) {
    if (!(key in (content || {}))) continue;
    const part = props[key] || {};
    const label = `${prefix}${part.title || key.replaceAll("_", " ")}`;
    const value = content[key];
    if (part.type === "object" && value && typeof value === "object" && !Array.isArray(value)) {
      rows.push(...answers(part, value, `${label}: `));
    } else {
      rows.push(el("dt", { text: label }), el("dd", { text: words(value) }));
    }
  }
  return rows;
}

async function definition(templateId, version) {
  try {
    return (await call("GET", `/v1/templates/${encodeURIComponent(templateId)}/versions/${version}`)).definition;
  } catch {
    return { title: templateId, schema: {} };
  }
}

function fingerprint(hash) {
  return el("code", { title: hash, text: `${hash.slice(0, 12)}…` });
}

function history(intakeId, form, title, names, patientUser) {
  const box = el("div", { class: "history" });
  const show = el("button", { type: "button", class: "quiet small", text: "History" }, el("span", { class: "visually-hidden", text: ` of ${title}` }));
  show.addEventListener("click", () => busy(show, async () => {
    const path = `/v1/intakes/${intakeId}/forms/${encodeURIComponent(form.key)}`;
    const data = await call("GET", `${path}/versions`);
    const parts = [
      table(
        `Versions of ${title}`,
        ["Version", "What", "When", "By", "Content hash"],
        data.items.map((v) => [String(v.n), v.event, formatWhen(v.at, WHEN), v.by === patientUser ? "The patient" : names.get(v.by) || "Patient or staff account", fingerprint(v.content_hash)]),
      ),
    ];
    const last = data.items.length;
    if (last > 1) {
      const diff = await call("GET", `${path}/diff?from=${last - 1}&to=${last}`);
      parts.push(
        el("h4", { text: `What changed in version ${last}` }),
        diff.changes.length
          ? el("ul", {}, ...diff.changes.map((c) => el("li", { text: `${c.path}: ${words(c.before)} → ${words(c.after)}` })))
          : el("p", { class: "hint", text: "No answers changed." }),
      );
    }
    box.replaceChildren(...parts);
    show.remove();
    announce(`History of ${title} shown.`);
  }));
  box.append(show);
  return box;
}

async function formsPart(detail, names) {
  if (!detail.content_visible) {
    return [el("p", { class: "hint", text: "Form answers are for the patient's clinicians. You see which forms were submitted in the steps above." })];
  }
  if (!detail.forms.length) return [el("p", { class: "empty", text: "No forms submitted yet." })];
  const parts = [];
  const patientUser = (detail.consents[0] || {}).signer_user_id;
  for (const form of detail.forms) {
    const def = await definition(form.template_id, form.template_version);
    const title = def.title || form.template_id;
    const status = form.status === "submitted" ? `Submitted ${form.submitted_at ? formatWhen(form.submitted_at, WHEN) : ""}` : "Draft (not submitted yet)";
    parts.push(
      el("article", { class: "note-section", "aria-labelledby": `form-${form.key}` },
        el("h3", { id: `form-${form.key}`, text: title }),
        el("p", { class: "hint", text: `${status}. Version ${form.version}.` }),
        form.score ? el("p", {}, el("strong", { text: `Score ${form.score.total}${form.score.band ? `: ${words(form.score.band)}` : ""}` }),
          form.score.flags.length ? el("span", { class: "badge danger", text: ` Flagged: ${form.score.flags.map(words).join(", ")}` }) : null) : null,
        el("dl", { class: "facts" }, ...answers(def.schema, form.content)),
        history(detail.intake.id, form, title, names, patientUser),
      ),
    );
  }
  return parts;
}

function save(name, type, base64) {
  const raw = atob(base64);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i += 1) bytes[i] = raw.charCodeAt(i);
  const url = URL.createObjectURL(new Blob([bytes], { type }));
  const link = el("a", { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function consentsPart(detail) {
  const rows = detail.consents.map((c) => {
    const evidence = el("div", {},
      el("p", { class: "hint", text: `Identity verified ${formatWhen(c.identity_verified_at, WHEN)}; from ${c.source_ip || "unknown address"}` }),
      el("p", { class: "hint", text: `Browser: ${c.user_agent || "unknown"}` }),
      el("p", { class: "hint" }, "Document ", fingerprint(c.document_hash), ", answers ", fingerprint(c.content_hash)),
    );
    let pdf = "—";
    if (c.document_id && can("document.content.read")) {
      pdf = el("button", { type: "button", class: "quiet small", text: "Signed PDF" }, el("span", { class: "visually-hidden", text: ` of ${c.title}` }));
      pdf.addEventListener("click", () => busy(pdf, async () => {
        const file = await call("GET", `/v1/documents/${c.document_id}/content`);
        save(file.filename || "consent.pdf", file.content_type || "application/pdf", file.content_base64);
        announce(`Downloaded the signed ${c.title}.`);
      }));
    }
    const status = c.status === "revoked"
      ? el("span", { class: "badge warn", text: `Revoked ${formatWhen(c.revoked_at, WHEN)}` })
      : el("span", { class: "badge ok", text: "Signed" });
    return [c.title, status, formatWhen(c.signed_at, WHEN), evidence, pdf];
  });
  return table("Consents signed in this intake", ["Consent", "Status", "Signed", "Evidence", "Copy"], rows, "No consents signed yet.");
}

async function cardsPart(detail) {
  if (!detail.insurance_cards.length) return el("p", { class: "empty", text: "No card photos yet." });
  if (!can("document.content.read")) {
    return el("ul", {}, ...detail.insurance_cards.map((c) => el("li", { text: `${c.side === "front" ? "Front" : "Back"}: received` })));
  }
  const figures = [];
  for (const c of detail.insurance_cards) {
    const side = c.side === "front" ? "Front" : "Back";
    try {
      const file = await call("GET", `/v1/documents/${c.document_id}/content`);
      // A data: address (the CSP allows images from the page and data:, never blob:).
      figures.push(el("figure", { class: "card-photo" },
        el("img", { src: `data:${file.content_type || "image/jpeg"};base64,${file.content_base64}`, alt: `Insurance card, ${side.toLowerCase()}` }),
        el("figcaption", { text: `${side} of the insurance card` })));
    } catch {
      figures.push(el("p", { class: "hint", text: `${side}: the photo could not be loaded.` }));
    }
  }
  return el("div", { class: "card-photos" }, ...figures);
}

function reviewForm(detail, done) {
  const intake = detail.intake;
  const reopen = intake.steps.map((s) => s.step).filter((s) => REOPENABLE.includes(s));
  const approve = el("input", { type: "radio", name: "decision", id: "decision-approve", value: "approve", checked: true });
  const change = el("input", { type: "radio", name: "decision", id: "decision-change", value: "request_changes" });
  const more = el("div", { hidden: true },
    field("Send the patient back to", { name: "step" }, { tag: "select", options: reopen.map((s) => [s, STEP[s]]) }),
    field("What should the patient change?", { name: "comment", maxlength: "2000", rows: "3" }, { tag: "textarea", hint: "The patient sees this on their checklist. Keep clinical detail out of it." }),
  );
  const toggle = () => (more.hidden = !change.checked);
  approve.addEventListener("change", toggle);
  change.addEventListener("change", toggle);
  const form = el("form", { id: "review-form", "aria-labelledby": "review-title", novalidate: true },
    el("fieldset", { "data-field": "decision" },
      el("legend", { text: "Your decision" }),
      el("div", { class: "check" }, approve, el("label", { for: "decision-approve", text: "Approve: the packet is complete" })),
      el("div", { class: "check" }, change, el("label", { for: "decision-change", text: "Request changes" })),
    ),
    more,
    el("div", { class: "actions" }, el("button", { type: "submit", text: "Record decision" })),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form);
    const body = { version: intake.version, decision: change.checked ? "request_changes" : "approve" };
    if (change.checked) {
      body.step = form.elements.step.value;
      body.comment = form.elements.comment.value.trim() || undefined;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    call("POST", `/v1/intakes/${intake.id}/review`, body)
      .then(() => done(body.decision === "approve" ? "Intake approved." : `Sent back to the patient: ${STEP[body.step]}.`))
      .catch((error) => {
        if (error && error.handled) return;
        showFormError(form, error);
      })
      .finally(() => (button.disabled = false));
  });
  return form;
}

/** A button that asks once more before it acts (no modal: the second button says what happens). */
function confirmed(label, confirmLabel, explain, action) {
  const box = el("div", { class: "confirm" });
  const first = el("button", { type: "button", class: "quiet", text: label });
  const yes = el("button", { type: "button", text: confirmLabel });
  const no = el("button", { type: "button", class: "quiet", text: "Keep it" });
  const ask = el("div", { hidden: true, class: "inline" }, el("p", { text: explain }), yes, no);
  first.addEventListener("click", () => {
    ask.hidden = false;
    first.hidden = true;
    yes.focus();
  });
  no.addEventListener("click", () => {
    ask.hidden = true;
    first.hidden = false;
    first.focus();
  });
  yes.addEventListener("click", () => busy(yes, action));
  box.append(first, ask);
  return box;
}

async function firstVisitPart(intake, done) {
  const now = Date.now();
  const q = new URLSearchParams({ patient_id: intake.patient_id, from: new Date(now).toISOString(), to: new Date(now + 90 * DAY).toISOString(), limit: "50" });
  const data = await call("GET", `/v1/appointments?${q}`);
  const upcoming = data.items.filter((a) => a.status === "scheduled" || a.status === "confirmed").sort((a, b) => a.start.localeCompare(b.start));
  return [
    el("p", { text: "The patient has not booked the first visit. Book it in the calendar, then link it here (this completes the intake)." }),
    el("p", {}, el("a", { href: "#/calendar", text: "Open the calendar" })),
    table("The patient's upcoming visits", ["When", ""], upcoming.map((a) => {
      const link = el("button", { type: "button", class: "small", text: "Link as the first visit" }, el("span", { class: "visually-hidden", text: ` on ${formatWhen(a.start, WHEN)}` }));
      link.addEventListener("click", () => busy(link, async () => {
        await call("POST", `/v1/intakes/${intake.id}/appointment`, { version: intake.version, appointment_id: a.id });
        await done("First visit linked; the intake is complete.");
      }));
      return [formatWhen(a.start, WHEN), link];
    }), "No upcoming visits booked for this patient yet."),
  ];
}

function managePart(intake, done) {
  const parts = [];
  const base = `/v1/intakes/${intake.id}`;
  const resend = el("button", { type: "button", text: intake.status === "stalled" ? "Resend the invitation and resume" : "Resend the invitation" });
  resend.addEventListener("click", () => busy(resend, async () => {
    await call("POST", `${base}/resend-invitation`);
    await done("Invitation sent again.");
  }));
  parts.push(
    el("p", { class: "hint", text: "The patient gets the practice's invitation again (no health information in it). A stalled intake resumes and its reminders start over." }),
    el("div", { class: "actions" }, resend),
    confirmed("Restart the workflow", "Yes, restart it", "Steps already done stay done; a lost answer is picked up again.", async () => {
      await call("POST", `${base}/restart`, { version: intake.version });
      await done("Intake restarted.");
    }),
    confirmed("Cancel this intake", "Yes, cancel the intake", "The patient's checklist closes. What they submitted stays in the record.", async () => {
      await call("POST", `${base}/cancel`, { version: intake.version });
      await done("Intake cancelled.");
    }),
  );
  return parts;
}

function stallReason(intake) {
  const n = intake.reminders_sent;
  if (n > 0) return `the patient did not act after ${n} ${n === 1 ? "reminder" : "reminders"}`;
  return "the identity check locked after too many wrong answers";
}

export async function render(view, { intakeId }) {
  const [detail, names] = await Promise.all([call("GET", `/v1/intakes/${encodeURIComponent(intakeId)}`), staffNames()]);
  const intake = detail.intake;
  let name = "Patient";
  try {
    name = patientName(await call("GET", `/v1/patients/${encodeURIComponent(intake.patient_id)}`));
  } catch {
    /* the name is a nicety; the intake itself was authorised */
  }
  const redraw = async (message) => {
    view.replaceChildren();
    await render(view, { intakeId });
    announce(message);
    view.querySelector("h1").focus();
  };
  const facts = el("dl", { class: "facts" },
    el("dt", { text: "Status" }), el("dd", {}, statusCell(intake)),
    el("dt", { text: "Intake" }), el("dd", { text: `${detail.template.name} (version ${intake.template_version})` }),
    el("dt", { text: "Started" }), el("dd", { text: formatWhen(intake.created_at, WHEN) }),
    el("dt", { text: "Identity" }), el("dd", { text: intake.identity_verified_at ? `Verified ${formatWhen(intake.identity_verified_at, WHEN)}` : "Not verified yet" }),
    el("dt", { text: "Reminders sent" }), el("dd", { text: String(intake.reminders_sent) }),
  );
  const top = [
    el("p", { class: "crumbs" }, el("a", { href: "#/intake", text: "Intake" }), " · ", el("a", { href: `#/patients/${intake.patient_id}`, text: "Chart" })),
    heading(`Intake: ${name}`),
    intake.status === "stalled"
      ? el("p", { class: "notice", text: `Stalled ${formatWhen(intake.stalled_at, WHEN)} at ${STEP[intake.current_step] || "a step"}: ${stallReason(intake)}. Resend the invitation to resume it (this also lifts a locked identity check), or restart or cancel it.` })
      : null,
    detail.review_comment && intake.status === "changes_requested"
      ? el("p", { class: "notice", text: `Sent back with: “${detail.review_comment}”` })
      : null,
    card("intake-summary", "Where it stands", facts,
      el("ol", { class: "steps", "aria-label": "Steps" }, ...intake.steps.map((s) =>
        el("li", { text: `${STEP[s.step] || s.step}: ${STEP_STATUS[s.status] || s.status}${s.done_at ? `, ${formatWhen(s.done_at, WHEN)}` : ""}` })))),
  ];
  view.append(...top.filter(Boolean));
  if (intake.status === "in_review" && can("intake.review") && detail.content_visible) {
    view.append(card("review", "Review", el("p", { class: "hint", text: "Read the packet below, then approve it or send the patient back to one step with a comment." }), reviewForm(detail, redraw)));
  }
  const appointment = intake.steps.find((s) => s.step === "appointment");
  if (appointment && appointment.status === "open" && can("intake.manage") && can("appointment.list")) {
    const box = card("first-visit", "First visit", el("p", { class: "hint", text: "Loading…" }));
    view.append(box);
    box.replaceChildren(box.querySelector("h2"), ...(await firstVisitPart(intake, redraw)));
  }
  view.append(card("intake-forms", "Forms", ...(await formsPart(detail, names))));
  view.append(card("intake-consents", "Consents", consentsPart(detail)));
  if (detail.template.insurance_card) view.append(card("intake-card", "Insurance card", await cardsPart(detail)));
  if (OPEN.has(intake.status) && can("intake.manage")) view.append(card("intake-manage", "Manage", ...managePart(intake, redraw)));
}

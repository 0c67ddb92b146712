// A patient's chart: details, then a timeline of appointments, notes (by status),
// measures (the score series as a chart with flagged points, and as a table), documents and
// risk flags. Each part loads on its own and only for roles that may see it; every read is
// authorised and audited by the API.

import { call } from "../../../../shared/api.js";
import { can } from "../../permissions.js";
import { announce, busy, clearErrors, el, formatWhen, heading, showFormError, table } from "../../ui.js";
import { ackCell, flagText, staffNames } from "../clinical/flag-ack.js";
import { consentsPart, intakePart } from "../intake/chart.js";
import { documentsPart } from "./documents.js";
import { messagesPart } from "./messages.js";
import { proxiesPart } from "./proxies.js";
import { formatDob, patientName } from "./search.js";

const DAY = 86_400_000;
const MEASURES = [
  ["phq9", "PHQ-9 (depression)"],
  ["gad7", "GAD-7 (anxiety)"],
];
const NOTE_STATUS = {
  draft: "Draft",
  pending_cosign: "Waiting for co-signature",
  returned: "Returned by supervisor",
  signed: "Signed",
  cosigned: "Co-signed",
  amended: "Signed, with addenda",
};

function row(term, value) {
  if (value === null || value === undefined || value === "") return null;
  return [el("dt", { text: term }), el("dd", { text: String(value) })];
}

function address(a) {
  if (!a) return "";
  return [a.line1, a.line2, a.city, a.region, a.postal_code, a.country].filter(Boolean).join(", ");
}

function section(id, title) {
  const box = el("section", { class: "card", id, "aria-labelledby": `${id}-title` }, el("h2", { id: `${id}-title`, text: title }));
  box.append(el("p", { class: "hint", text: "Loading…" }));
  return box;
}

async function fill(box, build) {
  try {
    const content = await build();
    box.replaceChildren(box.querySelector("h2"), ...[content].flat().filter(Boolean));
  } catch (error) {
    if (error && error.handled) return;
    const text = error && (error.status === 404 || error.status === 403)
      ? "You do not have access to this part of the record."
      : `This part could not load (${(error && error.code) || "error"}). Reload the page to try again.`;
    box.replaceChildren(box.querySelector("h2"), el("p", { class: "hint", text }));
  }
}

function details(p) {
  const rows = [
    row("Preferred name", p.preferred_name),
    row("Pronouns", p.pronouns),
    row("Date of birth", formatDob(p.date_of_birth)),
    row("Email", p.email),
    row("Phone", p.phone),
    row("Address", address(p.address)),
    row("Time zone", p.timezone),
    row("Status", p.status),
    p.emergency_contact
      ? row("Emergency contact", `${p.emergency_contact.name} (${p.emergency_contact.relationship}), ${p.emergency_contact.phone}`)
      : null,
    p.insurance ? row("Insurance", [p.insurance.payer_name, p.insurance.member_id].filter(Boolean).join(", ")) : null,
  ].filter(Boolean);
  return el("dl", { class: "facts" }, ...rows.flat());
}

async function appointments(patientId) {
  const now = Date.now();
  const q = new URLSearchParams({
    patient_id: patientId,
    from: new Date(now - 60 * DAY).toISOString(),
    to: new Date(now + 30 * DAY).toISOString(),
    limit: "100",
  });
  const [data, services] = await Promise.all([
    call("GET", `/v1/appointments?${q}`),
    can("scheduling.catalogue.read") ? call("GET", "/v1/services") : Promise.resolve({ items: [] }),
  ]);
  const names = new Map(services.items.map((s) => [s.id, s.name]));
  const items = [...data.items].sort((a, b) => b.start.localeCompare(a.start));
  return table(
    "Appointments from 60 days ago to 30 days ahead, latest first",
    ["When", "Service", "Status"],
    items.map((a) => [
      formatWhen(a.start, { dateStyle: "medium", timeStyle: "short" }),
      names.get(a.service_id) || "Appointment",
      a.status.replaceAll("_", " ") + (a.series_id ? " (recurring)" : ""),
    ]),
    "No appointments in this period.",
  );
}

async function notes(patientId) {
  const data = await call("GET", `/v1/patients/${encodeURIComponent(patientId)}/notes?limit=50`);
  const items = [...data.items].sort((a, b) => String(b.service_date).localeCompare(String(a.service_date)));
  const open = can("note.read");
  const start = can("note.create") && can("template.read")
    ? el("p", { class: "actions" },
        el("a", { class: "button-link", href: `#/patients/${patientId}/notes/new`, text: "Write a note" }),
        can("psychotherapy_note.create")
          ? el("a", { href: `#/psychotherapy-notes?patient=${patientId}`, text: "Write a psychotherapy note (kept apart)" })
          : null)
    : null;
  return [start, table(
    "Progress notes, latest first",
    ["Date of service", "Status", "Signed"],
    items.map((n) => [
      open ? el("a", { href: `#/notes/${n.id}`, text: n.service_date || "—" }) : n.service_date || "—",
      NOTE_STATUS[n.status] || n.status,
      n.signed_at ? formatWhen(n.signed_at, { dateStyle: "medium", timeStyle: "short" }) : "Not signed",
    ]),
    "No notes yet.",
  )];
}

let uplotCss = false;

async function drawChart(holder, title, points) {
  const { default: UPlot } = await import("../../../vendor/uplot.js");
  if (!uplotCss) {
    document.head.append(el("link", { rel: "stylesheet", href: "/staff/vendor/uplot.css" }));
    uplotCss = true;
  }
  const xs = points.map((p) => Date.parse(p.completed_at) / 1000);
  const totals = points.map((p) => p.total);
  const flagged = points.map((p) => (p.flags.length ? p.total : null));
  const width = Math.max(320, Math.min(holder.clientWidth || 640, 720));
  // eslint-disable-next-line no-new
  new UPlot(
    {
      title,
      width,
      height: 220,
      series: [
        {},
        { label: "Total score", stroke: "#0b4f8a", width: 2, points: { size: 7 } },
        { label: "Flagged", stroke: "#a3201d", width: 0, points: { size: 13, width: 3, fill: "#ffffff", stroke: "#a3201d" } },
      ],
      axes: [{}, { label: "Score" }],
      legend: { show: true },
    },
    [xs, totals, flagged],
    holder,
  );
}

async function measures(patientId) {
  const parts = [];
  for (const [templateId, title] of MEASURES) {
    const data = await call("GET", `/v1/patients/${encodeURIComponent(patientId)}/measures/${templateId}/series`);
    if (!data.items.length) continue;
    const points = [...data.items].sort((a, b) => a.completed_at.localeCompare(b.completed_at));
    const holder = el("div", { class: "chart", "aria-hidden": "true" });
    const figure = el(
      "figure",
      { class: "measure" },
      el("figcaption", { text: `${title}: ${points.length} score${points.length === 1 ? "" : "s"}; flagged answers are circled in red and marked in the table.` }),
      holder,
      table(
        `${title} scores, oldest first`,
        ["Completed", "Total", "Band", "Flag"],
        points.map((p) => [
          formatWhen(p.completed_at, { dateStyle: "medium" }),
          String(p.total),
          p.band || "",
          p.flags.length ? `Flagged: ${p.flags.map((f) => f.replaceAll("_", " ")).join(", ")}` : "",
        ]),
      ),
    );
    parts.push(figure);
    queueMicrotask(() => drawChart(holder, title, points).catch(() => holder.remove()));
  }
  return parts.length ? parts : el("p", { text: "No questionnaires answered yet." });
}

async function flags(patientId, box) {
  const [data, names] = await Promise.all([call("GET", "/v1/measure-flags?limit=100"), staffNames()]);
  const mine = data.items.filter((f) => f.patient_id === patientId);
  const redo = async (message) => {
    await fill(box, () => flags(patientId, box));
    if (message) announce(message);
  };
  return table(
    "Risk flags for this patient",
    ["Raised", "Flag", "Status"],
    mine.map((f) => [
      formatWhen(f.raised_at, { dateStyle: "medium", timeStyle: "short" }),
      `${f.template_id.toUpperCase()}: ${flagText(f)}`,
      ackCell(f, names, redo),
    ]),
    "No risk flags for this patient.",
  );
}

function breakGlass(view, patientId) {
  const form = el("form", { id: "break-glass", novalidate: true },
    el("div", { class: "field", "data-field": "reason" },
      el("label", { for: "bg-reason", text: "Why do you need this record now?" }),
      el("p", { id: "bg-hint", class: "hint", text: "At least 10 characters. Your reason, the time and everything you open are recorded, and the compliance officer is alerted." }),
      el("p", { id: "bg-reason-error", class: "field-error", hidden: true }),
      el("textarea", { id: "bg-reason", name: "reason", rows: "3", maxlength: "500", "aria-describedby": "bg-hint bg-reason-error" })),
    el("button", { type: "submit", class: "danger", text: "Open with emergency access" }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form);
    const reason = form.elements.reason.value.trim();
    if (reason.length < 10) {
      showFormError(form, { details: { fields: [{ path: "body.reason", type: "short" }] } }, { short: "Say why, in at least 10 characters." });
      return;
    }
    busy(event.submitter, async () => {
      const grant = await call("POST", `/v1/patients/${encodeURIComponent(patientId)}/break-glass`, { reason });
      view.replaceChildren();
      await render(view, { patientId });
      announce(`Emergency access open until ${formatWhen(grant.ends_at, { timeStyle: "short" })}.`);
      view.querySelector("h1").focus();
    });
  });
  view.append(
    heading("You are not on this patient's care team"),
    el("p", { text: "Or no patient has this id. In an emergency you can open the record for a limited time (break-glass access)." }),
    form,
  );
}

export async function render(view, { patientId }) {
  let p;
  try {
    p = await call("GET", `/v1/patients/${encodeURIComponent(patientId)}`);
  } catch (error) {
    if (error.status === 404 && can("patient.break_glass")) {
      breakGlass(view, patientId);
      return;
    }
    throw error;
  }
  view.append(
    el("p", { class: "crumbs" }, el("a", { href: "#/patients", text: "Patients" })),
    heading(patientName(p)),
  );
  const detailBox = el("section", { class: "card", "aria-labelledby": "details-title" },
    el("h2", { id: "details-title", text: "Details" }), details(p),
    can("patient.update") ? el("p", {}, el("a", { href: `#/patients/${p.id}/edit`, text: "Edit details, care team and portal access" })) : null);
  view.append(detailBox);
  if (can("patient.access_log.read")) {
    view.append(el("p", {}, el("a", { href: `#/compliance/access-report/${p.id}`, text: "Who opened this record" })));
  }
  if (can("ledger.read")) {
    view.append(el("p", {}, el("a", { href: `#/billing/patients/${p.id}`, text: "Account: balances, payments, statements, estimates" })));
  }
  const loads = [];
  const add = (action, id, title, build) => {
    if (!can(action)) return;
    const box = section(id, title);
    view.append(box);
    loads.push(fill(box, () => build(box)));
  };
  add("measure.flag.list", "chart-flags", "Risk flags", (box) => flags(patientId, box));
  add("appointment.list", "chart-appointments", "Appointments", () => appointments(patientId));
  add("note.list", "chart-notes", "Notes", () => notes(patientId));
  add("measure.series.read", "chart-measures", "Measures", () => measures(patientId));
  add("document.list", "chart-documents", "Documents", (box) => documentsPart(patientId, box));
  add("message.list", "chart-messages", "Messages", () => messagesPart(patientId));
  add("patient.proxy.read", "chart-proxies", "Proxies (guardians and representatives)", (box) => proxiesPart(patientId, box));
  add("intake.read", "chart-intake", "Intake", () => intakePart(patientId));
  add("consent.read", "chart-consents", "Consents", (box) => consentsPart(patientId, box));
  await Promise.all(loads);
}

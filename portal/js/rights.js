// "Your privacy rights" (45 CFR 164.524/526/528): the patient asks for a copy of their
// record, a correction, or an accounting of disclosures; sees each request's deadline and
// answer; reads a given accounting; and files a statement of disagreement with a denied
// correction. Everything goes through the same authenticated, audited API as the rest.

import { call } from "../shared/api.js";
import { $, announce, busy, el, showError } from "./ui.js";

let patientId = null;
const KEEP_URL_MS = 60_000; // long enough for the browser to start saving the file

const KINDS = {
  access: "A copy of my record",
  accounting: "A list of the times my information was shared",
  amendment: "A correction to my record",
};
const STATUS = {
  open: "Waiting for the practice",
  fulfilled: "Answered",
  accepted: "Correction made",
  denied: "Correction refused",
  withdrawn: "Withdrawn",
};

// A calendar date (YYYY-MM-DD) as written, with its year: no time zone can shift it.
function day(iso) {
  return new Date(`${iso}T00:00:00Z`).toLocaleDateString(undefined, {
    dateStyle: "medium",
    timeZone: "UTC",
  });
}

function accounting(request) {
  if (request.status !== "fulfilled" || request.kind !== "accounting") return null;
  const period = `From ${day(request.accounting_from)} to ${day(request.accounting_to)}.`;
  if (request.disclosures.length === 0) {
    return el("p", { text: `${period} Your information was not shared in a way that must be listed.` });
  }
  const rows = request.disclosures.map((d) =>
    el(
      "tr",
      {},
      el("td", { text: day(d.disclosed_on) }),
      el("td", { text: d.recipient_address ? `${d.recipient}, ${d.recipient_address}` : d.recipient }),
      el("td", { text: d.description }),
      el("td", { text: d.purpose }),
    ),
  );
  return el(
    "div",
    { class: "scroll" },
    el("p", { text: period }),
    el(
      "table",
      { class: "rights-accounting" },
      el("caption", { class: "visually-hidden", text: "Disclosures of your information, oldest first" }),
      el(
        "thead",
        {},
        el(
          "tr",
          {},
          ...["Date", "Shared with", "What", "Why"].map((h) => el("th", { scope: "col", text: h })),
        ),
      ),
      el("tbody", {}, ...rows),
    ),
  );
}

function toBytes(base64) {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

// The record's files come as base64 JSON through the authenticated, audited API and are
// saved through a Blob and a short-lived object URL: no file has a URL of its own.
async function save(request, format) {
  const data = await call(
    "GET",
    `/v1/patients/${encodeURIComponent(patientId)}/rights-requests/${encodeURIComponent(request.id)}/package/${format}`,
  );
  const blob = new Blob([toBytes(data.content_base64)], { type: data.content_type });
  const url = URL.createObjectURL(blob);
  const link = el("a", { href: url, download: data.filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), KEEP_URL_MS);
  announce(`Downloading ${data.filename}.`);
}

const FORMATS = {
  pdf: "Download my record (PDF)",
  fhir: "Download my record for health apps (FHIR)",
};

function downloads(request) {
  if (request.kind !== "access" || request.status !== "fulfilled" || !request.package.length) return null;
  return el(
    "div",
    { class: "actions" },
    el("p", { class: "hint", text: "A download is saved on this device: on a shared computer, delete it when you are done." }),
    ...request.package.map((file) =>
      el("button", {
        type: "button",
        class: "quiet",
        text: FORMATS[file.format] || file.filename,
        onclick: (e) => busy(e.currentTarget, () => save(request, file.format)),
      }),
    ),
  );
}

function disagreementForm(request) {
  if (request.kind !== "amendment" || request.status !== "denied" || request.disagreement) return null;
  const id = `disagree-${request.id}`;
  const text = el("textarea", { id, maxlength: "8000", rows: "3", required: true });
  const button = el("button", { type: "submit", class: "quiet" }, "Send my statement");
  return el(
    "form",
    {
      novalidate: true,
      onsubmit: (event) => {
        event.preventDefault();
        if (!text.value.trim()) {
          showError("Please write your statement first.");
          return;
        }
        busy(button, async () => {
          await call(
            "POST",
            `/v1/patients/${encodeURIComponent(patientId)}/rights-requests/${encodeURIComponent(request.id)}/disagreement`,
            { version: request.version, statement: text.value.trim() },
          );
          showError("");
          announce("Your statement of disagreement is kept with your record.");
          await loadRights();
        });
      },
    },
    el("label", { for: id, text: "If you disagree, you may send a statement, kept with your record" }),
    text,
    button,
  );
}

function item(request) {
  const due = request.extension
    ? `Due by ${day(request.due_on)} (extended: ${request.extension.reason})`
    : `Due by ${day(request.due_on)}`;
  const answer =
    request.kind === "amendment" && request.response
      ? el("p", { text: request.status === "denied" ? `Reason: ${request.response}` : request.response })
      : null;
  return el(
    "li",
    { class: "appt", "data-request": request.kind },
    el("p", { class: "when", text: KINDS[request.kind] }),
    el("p", { text: `Asked ${day(request.received_on)}. ${STATUS[request.status] || request.status}.` }),
    request.status === "open" ? el("p", { text: `${due}.` }) : null,
    request.details ? el("p", { class: "hint", text: request.details }) : null,
    answer,
    request.disagreement ? el("p", { text: `Your statement: ${request.disagreement}` }) : null,
    accounting(request),
    downloads(request),
    disagreementForm(request),
  );
}

export async function loadRights(id) {
  if (id) patientId = id;
  const base = `/v1/patients/${encodeURIComponent(patientId)}/rights-requests`;
  const data = await call("GET", base);
  // A given accounting's disclosures come with the request itself.
  const full = await Promise.all(
    data.items.map((r) =>
      r.kind === "accounting" && r.status === "fulfilled"
        ? call("GET", `${base}/${encodeURIComponent(r.id)}`)
        : r,
    ),
  );
  $("rights-list").replaceChildren(...full.map(item));
  $("rights-empty").hidden = full.length > 0;
}

export function resetRights() {
  patientId = null;
  $("rights-list").replaceChildren();
  $("rights-form").reset();
}

export function setUpRights() {
  $("rights-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const kind = new FormData(event.currentTarget).get("rights-kind");
    const details = $("rights-details").value.trim();
    if (kind === "amendment" && !details) {
      showError("For a correction, please say what should change and why.");
      $("rights-details").focus();
      return;
    }
    busy($("rights-submit"), async () => {
      await call("POST", `/v1/patients/${encodeURIComponent(patientId)}/rights-requests`, {
        kind,
        details,
      });
      $("rights-form").reset();
      showError("");
      announce("Your request is sent. The practice will answer by the date shown.");
      await loadRights();
    });
  });
}

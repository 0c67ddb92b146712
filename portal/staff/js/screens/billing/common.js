// What the billing screens share: money as text (amounts arrive as decimal strings and are
// never added up in floating point here), patient names (each read audited by the API),
// PDFs from base64 JSON saved through a short-lived object URL, and wording for billing's
// error codes.

import { call } from "../../../../shared/api.js";
import { addMessages, announce, el } from "../../ui.js";

addMessages({
  own_approval: "Someone else must approve this: nobody approves their own write-off or refund.",
  request_decided: "This request was already approved or rejected. The list is up to date.",
  exception_resolved: "This exception was already resolved. The list is up to date.",
  duplicate_remittance: "This remittance was already received; nothing was posted twice.",
  invalid_claim_file: "The batch did not validate. Open each claim to see its problems.",
  agreement_required: "The clearinghouse has no executed business associate agreement: nothing was sent.",
  payer_claim_number_required: "A replacement or void needs the payer's claim number (from the 277CA or 835).",
  not_correctable: "Only a claim the payer accepted or adjudicated can be replaced or voided.",
});

/** "$1,234.50" from "1234.50" (text in, text out: no float arithmetic on money). */
export function money(amount) {
  if (amount === null || amount === undefined || amount === "") return "";
  const text = String(amount);
  const negative = text.startsWith("-");
  const [whole, frac = ""] = text.replace("-", "").split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${negative ? "−" : ""}$${grouped}.${(frac + "00").slice(0, 2)}`;
}

export const STATUS_WORDS = {
  invalid: "Has problems",
  validated: "Ready to batch",
  batched: "Batched",
  submitted: "Submitted",
  rejected: "Rejected",
  accepted: "Accepted by payer",
  paid: "Paid",
  partial: "Partly paid",
  denied: "Denied",
  closed: "Closed",
  void: "Voided",
};

export function statusBadge(status) {
  const tone = { invalid: "danger", rejected: "danger", denied: "danger", paid: "ok", accepted: "ok", closed: "ok", partial: "warn" }[status] || "";
  return el("span", { class: `badge ${tone}`.trim(), text: STATUS_WORDS[status] || status });
}

const names = new Map();

/** "Last, First" for a patient id (cached per page; each first read is audited). */
export async function patientLabel(id) {
  if (!names.has(id)) {
    try {
      const p = await call("GET", `/v1/patients/${encodeURIComponent(id)}`);
      names.set(id, `${p.legal_last_name}, ${p.legal_first_name}`);
    } catch {
      names.set(id, "Patient");
    }
  }
  return names.get(id);
}

function bytesOf(base64) {
  const raw = atob(base64);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i += 1) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

/** Saves a `{filename, content_type, content_base64}` answer as a download. */
export function savePdf(file, name = file.filename) {
  const url = URL.createObjectURL(new Blob([bytesOf(file.content_base64)], { type: file.content_type }));
  const link = el("a", { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  announce(`Downloading ${name}.`);
}


/** A calendar date ("2026-03-02") as text, without shifting it through a time zone. */
export function dateText(iso) {
  if (!iso) return "";
  const [y, m, d] = iso.slice(0, 10).split("-").map(Number);
  return new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeZone: "UTC" }).format(new Date(Date.UTC(y, m - 1, d)));
}

const RULE_WORDS = {
  insurance_required: "The patient has no insurance (payer id) on file: add it to their record, or bill the charge to the patient.",
  unknown_payer: "The patient's payer is not set up in billing (Payers).",
  billing_setup_incomplete: "Billing set-up is incomplete: choose the practice's billing identity.",
  billing_identity_incomplete: "The billing identity is incomplete (address with ZIP+4, EIN).",
  no_fee: "A code has no fee in the fee schedule.",
  one_patient_and_clinician_per_claim: "Choose charges of one patient and one clinician.",
  one_place_of_service_per_claim: "Choose charges with the same place of service.",
  code_combination: "These codes cannot be billed together on one day.",
  diagnosis_required: "The note has no diagnosis: the clinician adds one with an addendum.",
  icd10_header_code: "A diagnosis is a category header, not a billable code (for example F43.1 → F43.10).",
  icd10_unknown_code: "A diagnosis is not an ICD-10-CM code.",
  too_many_diagnoses: "At most 12 diagnoses fit on a claim.",
};

/** The API's refusal as sentences a biller can act on (one per problem). */
export function problemsOf(error) {
  const fields = (error && error.details && error.details.fields) || [];
  return fields.map((f) => RULE_WORDS[f.type] || f.message || `${String(f.path).replace(/^body\./, "")}: ${String(f.type).replaceAll("_", " ")}.`);
}

/** An error summary (GOV.UK pattern) listing why something was refused; focused. */
export function refusal(box, title, error) {
  const items = problemsOf(error);
  if (!items.length) throw error;
  box.replaceChildren(
    el(
      "div",
      { class: "error-summary", tabindex: "-1", role: "alert", "aria-labelledby": `${box.id}-title` },
      el("h2", { id: `${box.id}-title`, text: title }),
      el("ul", {}, ...items.map((text) => el("li", { text }))),
    ),
  );
  box.firstChild.focus();
}

// The disclosure register for one patient (45 CFR 164.528): every release of the patient's
// information outside the practice, newest first, and the form to record one. Records are
// append-only. Reading and recording are audited.

import { call } from "../../../../shared/api.js";
import { can } from "../../permissions.js";
import { navigate } from "../../router.js";
import { announce, busy, clearErrors, el, field, heading, localDate, showFormError, table } from "../../ui.js";
import { BASES, day } from "./rights-words.js";

const BASIS = Object.fromEntries(BASES);
const PATIENT = /^pat_[0-9a-z]{26}$/;

function chooser(patientId) {
  const form = el(
    "form",
    { id: "disclosures-patient", novalidate: true },
    field("Patient id", { name: "patient_id", autocomplete: "off", maxlength: "40", required: true, value: patientId || "" }, { hint: "From the patient's record or a request (pat_…)." }),
    el("button", { type: "submit", text: "Show disclosures" }),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const id = form.elements.patient_id.value.trim();
    clearErrors(form);
    if (PATIENT.test(id)) navigate(`/compliance/disclosures/${id}`);
    else {
      showFormError(form, { details: { fields: [{ path: "body.patient_id", type: "patient_id" }] } }, {
        patient_id: "Enter a patient id: pat_ then 26 letters and digits.",
      });
    }
  });
  return form;
}

function recordForm(patientId) {
  const button = el("button", { type: "submit", text: "Record the disclosure" });
  const form = el(
    "form",
    { id: "record-disclosure", novalidate: true },
    field("Date disclosed", { name: "disclosed_on", type: "date", required: true, value: localDate(new Date()) }),
    field("Recipient", { name: "recipient", required: true, maxlength: "300" }, { hint: "The person or organisation." }),
    field("Recipient's address", { name: "recipient_address", maxlength: "500" }, { hint: "If known." }),
    field("What was disclosed", { name: "description", required: true, maxlength: "2000", rows: "2" }, { tag: "textarea" }),
    field("Purpose", { name: "purpose", required: true, maxlength: "2000", rows: "2" }, { tag: "textarea", hint: "Why, or a copy of the written request." }),
    field("Basis", { name: "basis", required: true }, { tag: "select", options: BASES }),
    button,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form);
    const f = form.elements;
    const body = {
      disclosed_on: f.disclosed_on.value,
      recipient: f.recipient.value.trim(),
      recipient_address: f.recipient_address.value.trim(),
      description: f.description.value.trim(),
      purpose: f.purpose.value.trim(),
      basis: f.basis.value,
    };
    busy(button, async () => {
      try {
        await call("POST", `/v1/patients/${encodeURIComponent(patientId)}/disclosures`, body);
      } catch (error) {
        if (error && error.code === "validation_failed") {
          showFormError(form, error);
          return;
        }
        throw error;
      }
      announce("The disclosure is recorded.");
      navigate(`/compliance/disclosures/${patientId}`);
    });
  });
  return form;
}

export async function render(view, { patientId }) {
  view.append(heading("Disclosures"), chooser(patientId));
  if (!patientId) return;
  const data = await call("GET", `/v1/patients/${encodeURIComponent(patientId)}/disclosures`);
  const rows = data.items.map((d) => [
    day(d.disclosed_on),
    d.recipient_address ? `${d.recipient}, ${d.recipient_address}` : d.recipient,
    d.description,
    d.purpose,
    BASIS[d.basis] || d.basis,
    d.accounted ? "Yes" : "No",
  ]);
  view.append(
    el("h2", { text: "The register" }),
    table("Disclosures of this patient's information, newest first", ["Date", "Recipient", "What", "Why", "Basis", "In the accounting"], rows, "No disclosures recorded."),
  );
  if (can("disclosure.record")) view.append(el("h2", { text: "Record a disclosure" }), recordForm(patientId));
}

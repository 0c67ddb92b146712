// One patient's rights request: what was asked and when, the deadline, and the officer's
// steps — extend once with a reason, give an accounting (the accountable disclosures of the
// period, fixed as given), or accept/deny an amendment with its text or basis. A statement
// of disagreement the patient filed shows with the denial.

import { call } from "../../../../shared/api.js";
import { can } from "../../permissions.js";
import { navigate } from "../../router.js";
import { announce, busy, clearErrors, el, field, formatWhen, heading, showFormError, table } from "../../ui.js";
import { BASES, KINDS, STATUS, day } from "./rights-words.js";

const BASIS = Object.fromEntries(BASES);

function facts(r) {
  const items = [
    ["Patient", el("a", { href: `#/compliance/disclosures/${r.patient_id}`, text: r.patient_id })],
    ["Received", formatWhen(r.received_at, { dateStyle: "medium", timeStyle: "short" })],
    ["Status", STATUS[r.status] || r.status],
    ["Due", r.status === "open" ? `${day(r.due_on)}${r.overdue ? " (overdue)" : ""}` : "—"],
  ];
  if (r.extension) items.push(["Extended", `to ${day(r.extension.due_on)}: ${r.extension.reason}`]);
  if (r.details) items.push(["What the patient asked", r.details]);
  if (r.record_reference) items.push(["Record", r.record_reference]);
  if (r.kind === "accounting") items.push(["Period", `${day(r.accounting_from)} to ${day(r.accounting_to)}`]);
  if (r.response) items.push([r.status === "denied" ? "Basis for the denial" : "Amendment as made", r.response]);
  if (r.disagreement) items.push(["Patient's statement of disagreement", r.disagreement]);
  return el(
    "dl",
    { class: "facts" },
    ...items.flatMap(([k, v]) => [el("dt", { text: k }), v instanceof Node ? el("dd", {}, v) : el("dd", { text: v })]),
  );
}

function disclosureTable(r) {
  const rows = r.disclosures.map((d) => [
    day(d.disclosed_on),
    d.recipient_address ? `${d.recipient}, ${d.recipient_address}` : d.recipient,
    d.description,
    d.purpose,
    BASIS[d.basis] || d.basis,
  ]);
  return table(
    "Disclosures given in this accounting, oldest first",
    ["Date", "Recipient", "What", "Why", "Basis"],
    rows,
    "No accountable disclosures in the period: the patient was told so.",
  );
}

function actionForm(id, fields, label, submit) {
  const button = el("button", { type: "submit", text: label });
  const form = el("form", { id, novalidate: true }, ...fields, button);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form);
    busy(button, async () => {
      try {
        await submit(form);
      } catch (error) {
        if (error && error.code === "validation_failed") {
          showFormError(form, error);
          return;
        }
        throw error;
      }
    });
  });
  return form;
}

export async function render(view, { patientId, requestId }) {
  const path = `/v1/patients/${encodeURIComponent(patientId)}/rights-requests/${encodeURIComponent(requestId)}`;
  const r = await call("GET", path);
  const done = (text) => {
    announce(text);
    navigate(`/compliance/rights/${patientId}/${requestId}`);
  };
  view.append(heading(KINDS[r.kind] || "Request"), facts(r));
  if (r.kind === "accounting" && r.status === "fulfilled") {
    view.append(el("h2", { text: "The accounting given" }), disclosureTable(r));
  }
  if (r.kind === "access" && r.package.length) {
    view.append(
      el("h2", { text: "The copy given" }),
      table(
        "Files delivered to the patient through the portal",
        ["File", "Size", "SHA-256"],
        r.package.map((f) => [f.filename, `${f.size_bytes} bytes`, f.sha256]),
      ),
    );
  }
  if (r.status !== "open" || !can("rights.manage")) return;

  if (r.kind === "accounting") {
    view.append(
      el("h2", { text: "Give the accounting" }),
      el("p", {
        class: "hint",
        text: "Lists every disclosure in the period except those for treatment, payment or operations, to the patient, or under the patient's authorization. Record any missing disclosure in the register first.",
      }),
      actionForm("give-accounting", [], "Give the accounting", async () => {
        await call("POST", `${path}/accounting`, { version: r.version });
        done("The accounting is given; the patient can read it in the portal.");
      }),
    );
  }
  if (r.kind === "access") {
    view.append(
      el("h2", { text: "Give the copy of the record" }),
      el("p", {
        class: "hint",
        text: "Prepares the patient's record as a FHIR R4 file and a PDF and delivers both through the portal. Psychotherapy notes are never included.",
      }),
      actionForm("give-access", [], "Give the copy of the record", async () => {
        await call("POST", `${path}/access`, { version: r.version });
        done("The copy of the record is ready for the patient in the portal.");
      }),
    );
  }
  if (r.kind === "amendment") {
    view.append(
      el("h2", { text: "Decide the amendment" }),
      actionForm(
        "decide-amendment",
        [
          field("Decision", { name: "accept", required: true }, {
            tag: "select",
            options: [["true", "Accept: amend the record"], ["false", "Deny"]],
          }),
          field("Amendment as made, or the basis for the denial", { name: "response", required: true, maxlength: "8000", rows: "4" }, {
            tag: "textarea",
            hint: "Given to the patient and kept with the record.",
          }),
        ],
        "Record the decision",
        async (form) => {
          await call("POST", `${path}/decision`, {
            version: r.version,
            accept: form.elements.accept.value === "true",
            response: form.elements.response.value.trim(),
          });
          done("The decision is recorded.");
        },
      ),
    );
  }
  if (!r.extension) {
    view.append(
      el("h2", { text: "Extend the deadline" }),
      actionForm(
        "extend-request",
        [field("Reason given to the patient", { name: "reason", required: true, maxlength: "2000" }, { hint: "Once, by 30 days, before the deadline." })],
        "Extend by 30 days",
        async (form) => {
          await call("POST", `${path}/extend`, { version: r.version, reason: form.elements.reason.value.trim() });
          done("The deadline is extended by 30 days.");
        },
      ),
    );
  }
}

// One claim: its billing facts, lines, validation problems (loop, segment, element,
// message — what blocks it from a batch), and its full history (created, validated,
// batched, submitted, accepted/rejected, paid/denied, corrected). A claim the payer
// accepted or adjudicated can be replaced (frequency 7) or voided (8); the correction
// carries the payer's claim number and links back here. Paper payers: the CMS-1500 PDF.

import { call } from "../../../../shared/api.js";
import { can } from "../../permissions.js";
import { addMessages, announce, busy, el, formatWhen, heading, showFormError, table } from "../../ui.js";
import { dateText, money, patientLabel, savePdf, statusBadge } from "./common.js";
import { staffNames } from "../clinical/flag-ack.js";

const CORRECTABLE = new Set(["accepted", "paid", "partial", "denied"]);
const KIND = { 1: "Original (1)", 7: "Replacement (7)", 8: "Void (8)" };
addMessages({ claim_not_resubmittable: "Only a claim with problems or a rejected one is sent again; a denied claim is corrected instead." });

function facts(pairs) {
  const list = el("dl", { class: "facts" });
  for (const [term, value] of pairs) {
    if (value === null || value === undefined || value === "") continue;
    list.append(el("dt", { text: term }), value instanceof Node ? el("dd", {}, value) : el("dd", { text: value }));
  }
  return list;
}

export async function render(view, { claimId }) {
  const [c, names] = await Promise.all([call("GET", `/v1/claims/${encodeURIComponent(claimId)}`), staffNames()]);
  const patient = await patientLabel(c.patient_id);
  view.append(
    el("p", { class: "crumbs" }, el("a", { href: "#/billing", text: "Billing" })),
    heading(`Claim ${c.pcn}`),
    facts([
      ["Status", statusBadge(c.status)],
      ["Patient", el("a", { href: `#/billing/patients/${c.patient_id}`, text: patient })],
      ["Kind", KIND[c.frequency]],
      ["Corrects", c.corrects ? el("a", { href: `#/billing/claims/${c.corrects}`, text: "the original claim" }) : null],
      ["Payer's claim number", c.payer_claim_number],
      ["Place of service", c.place_of_service],
      ["Diagnoses (ICD-10-CM)", c.diagnoses.join(", ")],
      ["Prior authorisation", c.prior_authorization],
      ["Total charge", money(c.total)],
      ["Paid by payer", money(c.paid)],
      ["Patient responsibility", money(c.patient_responsibility)],
      ["42 CFR Part 2", c.part2_notice],
    ]),
  );
  view.append(
    el("h2", { text: "Lines" }),
    table(
      "Service lines",
      ["Line control no.", "Date of service", "Procedure", "Units", "Pointers", "Charge"],
      c.lines.map((l) => [l.control_number, dateText(l.service_date), [l.procedure, ...l.modifiers].join("-"), String(l.units), l.pointers.join(":"), money(l.charge)]),
    ),
  );
  if (c.problems.length) {
    view.append(
      el("h2", { id: "problems-title", text: "Validation problems" }),
      el("p", { class: "notice", text: "These block the claim from a batch. Most come from the billing set-up (identities, payer, fees) or the patient's insurance and address; fix them there." }),
      table(
        "Validation problems",
        ["Loop", "Segment", "Element", "Problem", "Found by"],
        c.problems.map((p) => [p.loop, p.segment, p.element, p.message, p.source]),
      ),
    );
  }
  view.append(
    el("h2", { text: "History" }),
    table(
      "What happened to this claim, oldest first",
      ["When", "Who", "What", "Detail"],
      c.history.map((h) => [formatWhen(h.at, { dateStyle: "medium", timeStyle: "short" }), names.get(h.by) || (h.by.startsWith("usr_") ? "Staff member" : h.by), h.event, h.detail]),
    ),
  );
  const actions = el("div", { class: "actions" });
  if (can("claim.read")) {
    const paper = el("button", { type: "button", class: "quiet", text: "CMS-1500 form (PDF)" });
    paper.addEventListener("click", () => busy(paper, async () => savePdf(await call("GET", `/v1/claims/${encodeURIComponent(c.id)}/cms1500`), `claim-${c.pcn}.pdf`)));
    actions.append(paper);
  }
  if (can("claim.correct") && (c.status === "invalid" || c.status === "rejected")) {
    const again = el("button", { type: "button", id: "resubmit", text: "Validate again and send as an original" });
    again.addEventListener("click", () =>
      busy(again, async () => {
        const fixed = await call("POST", `/v1/claims/${encodeURIComponent(c.id)}/resubmit`, { version: c.version });
        view.replaceChildren();
        await render(view, { claimId: c.id });
        announce(fixed.status === "validated" ? "Validated: the claim is back in the batch queue." : "Still has problems: see the list.");
        view.querySelector("h1").focus();
      }),
    );
    actions.prepend(again);
    view.append(el("p", { class: "hint", text: "Fix the set-up or the patient's insurance and address first; the payer never received this claim, so it goes again as an original under the same claim number." }));
  }
  view.append(actions);
  if (can("claim.correct") && CORRECTABLE.has(c.status)) view.append(correction(c));
}

function correction(c) {
  const form = el(
    "form",
    { id: "correct-form", novalidate: true, "aria-labelledby": "correct-title" },
    el("h2", { id: "correct-title", text: "Correct this claim" }),
    el("p", { class: "hint", text: `A new claim is built from this one's charges and sent with the payer's claim number (${c.payer_claim_number || "not known yet"}).` }),
    el(
      "fieldset",
      { "data-field": "frequency" },
      el("legend", { text: "What to send" }),
      el("p", { class: "field-error", id: "freq-error", hidden: true }),
      el("div", { class: "check" }, el("input", { type: "radio", name: "frequency", id: "freq-7", value: "7", checked: true }), el("label", { for: "freq-7", text: "Replacement (frequency 7): the payer re-processes it" })),
      el("div", { class: "check" }, el("input", { type: "radio", name: "frequency", id: "freq-8", value: "8" }), el("label", { for: "freq-8", text: "Void (frequency 8): the payer cancels it" })),
    ),
    el("div", { class: "actions" }, el("button", { type: "submit", text: "Build the correction" })),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(event.submitter, async () => {
      try {
        const fixed = await call("POST", `/v1/claims/${encodeURIComponent(c.id)}/corrections`, { frequency: form.elements.frequency.value });
        location.hash = `#/billing/claims/${fixed.id}`;
        announce(`Correction ${fixed.pcn} built: ${fixed.status === "validated" ? "ready to batch" : "it has problems to fix"}.`);
      } catch (error) {
        showFormError(form, error, {
          payer_claim_number_required: "The payer's claim number is not known yet (it comes with the 277CA or 835).",
          not_correctable: "Only a claim the payer accepted or adjudicated can be corrected.",
        });
      }
    });
  });
  return form;
}

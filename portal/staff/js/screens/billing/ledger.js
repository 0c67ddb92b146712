// A patient's account: balances (what the patient owes, what insurance owes, by payer),
// aging 0-30/31-60/61-90/90+, every ledger entry (append-only: corrections are reversing
// entries), and what staff do with it — take a payment at the desk, write off or refund
// (above the practice's threshold it waits for a second person), statement and superbill
// PDFs (never emailed), Good Faith Estimates for self-pay patients, an eligibility check.

import { call } from "../../../../shared/api.js";
import { can } from "../../permissions.js";
import { announce, busy, clearErrors, el, field, formatWhen, heading, showFormError, table } from "../../ui.js";
import { staffNames } from "../clinical/flag-ack.js";
import { dateText, money, patientLabel, savePdf } from "./common.js";

const ENTRY_WORDS = {
  charge: "Charge",
  insurance_payment: "Insurance payment",
  patient_payment: "Patient payment",
  contractual_adjustment: "Contractual adjustment",
  other_adjustment: "Other adjustment",
  patient_responsibility: "Moved to patient",
  write_off: "Write-off",
  refund: "Refund",
  reversal: "Reversal",
};
const BUCKETS = ["0-30", "31-60", "61-90", "90+"];

function facts(pairs) {
  const list = el("dl", { class: "facts" });
  for (const [term, value] of pairs) list.append(el("dt", { text: term }), el("dd", { text: value }));
  return list;
}

function section(id, title, ...children) {
  return el("section", { class: "note-section", id, "aria-labelledby": `${id}-title` }, el("h2", { id: `${id}-title`, tabindex: "-1", text: title }), ...children);
}

export async function render(view, { patientId }) {
  const pid = encodeURIComponent(patientId);
  const [label, names, payers] = await Promise.all([
    patientLabel(patientId),
    staffNames(),
    can("billing.setup.read") ? call("GET", "/v1/billing/payers") : Promise.resolve([]),
  ]);
  const payerName = new Map(payers.map((p) => [p.id, p.name]));
  const summary = el("div", { id: "account-summary" });
  const entries = el("div", { id: "account-entries" });

  async function refresh(message) {
    const ledger = await call("GET", `/v1/patients/${pid}/ledger`);
    summary.replaceChildren(
      facts([
        ["Patient owes", money(ledger.patient_balance)],
        ["Insurance owes", money(ledger.insurance_balance)],
        ["Total open", money(ledger.total_balance)],
        ...Object.entries(ledger.by_payer).map(([payer, amount]) => [`Owed by ${payerName.get(payer) || "a payer"}`, money(amount)]),
      ]),
      table(
        "Open balance by age of service (days)",
        ["Who owes", ...BUCKETS],
        ["patient", "insurance"].map((b) => [b === "patient" ? "Patient" : "Insurance", ...BUCKETS.map((k) => money(ledger.aging[b][k]))]),
      ),
    );
    entries.replaceChildren(
      table(
        "Ledger entries, oldest first",
        ["When", "Entry", "Owed by", "Amount", "Code or reason", "Claim", "By"],
        ledger.entries.map((e) => [
          formatWhen(e.at, { dateStyle: "medium", timeStyle: "short" }),
          `${ENTRY_WORDS[e.kind] || e.kind}${e.service_date ? ` (service ${dateText(e.service_date)})` : ""}`,
          e.bucket === "patient" ? "Patient" : "Insurance",
          money(e.amount),
          e.reason,
          e.claim_id && can("claim.read") ? el("a", { href: `#/billing/claims/${e.claim_id}`, text: "Claim" }) : "",
          [names.get(e.created_by) || (e.created_by.startsWith("usr_") ? "Staff" : e.created_by), e.approved_by ? `approved by ${names.get(e.approved_by) || "a colleague"}` : ""].filter(Boolean).join(", "),
        ]),
        "No entries yet.",
      ),
    );
    if (message) {
      announce(message);
      summary.closest("section").querySelector("h2").focus();
    }
  }
  await refresh();

  view.append(
    el(
      "p",
      { class: "crumbs" },
      can("claim.read") ? el("a", { href: "#/billing", text: "Billing" }) : null,
      can("claim.read") && can("patient.read") ? " · " : null,
      can("patient.read") ? el("a", { href: `#/patients/${patientId}`, text: "Patient record" }) : null,
    ),
    heading(`${label}: account`),
    section("balances", "Balances", summary, documents(pid)),
  );
  if (can("ledger.payment.create")) view.append(paymentForm(pid, refresh));
  if (can("ledger.payment.card")) view.append(cardForm(pid, refresh));
  if (can("ledger.adjustment.create")) view.append(adjustmentForm(pid, refresh));
  if (can("billing.sliding_scale.manage")) view.append(slidingScaleForm(pid));
  view.append(section("entries", "Ledger", el("p", { class: "hint", text: "Append-only: nothing is edited or deleted; a correction is a reversing entry." }), entries));
  if (can("gfe.read")) view.append(await estimates(pid));
  if (can("eligibility.check")) view.append(eligibility(pid));
}

function documents(pid) {
  const out = el("div", { class: "actions" });
  const statement = el("button", { type: "button", class: "quiet", text: "Statement (PDF)" });
  statement.addEventListener("click", () => busy(statement, async () => savePdf(await call("GET", `/v1/patients/${pid}/statement`))));
  const year = new Date().getFullYear();
  const superbill = el("button", { type: "button", class: "quiet", text: `Superbill for ${year} (PDF)` });
  superbill.addEventListener("click", () =>
    busy(superbill, async () => savePdf(await call("GET", `/v1/patients/${pid}/superbill?from=${year}-01-01&to=${year}-12-31`))),
  );
  out.append(statement, superbill);
  out.append(el("p", { class: "hint", text: "PDFs for the patient's portal or to hand over in person: never send them by plain email." }));
  return out;
}

function paymentForm(pid, refresh) {
  const form = el(
    "form",
    { id: "payment-form", novalidate: true },
    field("Amount ($)", { name: "amount", inputmode: "decimal", autocomplete: "off", class: "short" }, { hint: "For example 40.00" }),
    field("Method", { name: "method" }, { tag: "select", options: [["cash", "Cash"], ["check", "Check"]] }),
    field("Check number (optional)", { name: "reference", autocomplete: "off", maxlength: "30", class: "short" }),
    el("div", { class: "actions" }, el("button", { type: "submit", text: "Record payment" })),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form);
    busy(event.submitter, async () => {
      const reference = form.elements.reference.value.trim();
      try {
        await call("POST", `/v1/patients/${pid}/payments`, {
          amount: form.elements.amount.value.trim(),
          method: form.elements.method.value,
          ...(reference ? { reference } : {}),
        });
      } catch (error) {
        showFormError(form, error, { decimal_parsing: "Enter an amount like 40.00.", greater_than: "Enter an amount above zero.", decimal_max_places: "Use at most two decimal places." });
        return;
      }
      const amount = form.elements.amount.value.trim();
      form.reset();
      await refresh(`Payment of $${amount} recorded.`);
    });
  });
  return section("take-payment", "Take a payment", form);
}

function cardForm(pid, refresh) {
  const next = el("p", { id: "card-next", hidden: true });
  const form = el(
    "form",
    { id: "card-form", novalidate: true },
    el("p", { class: "hint", text: "The patient pays on the card processor's page (opened in a new tab at the desk, or by the patient in their portal): card numbers never reach the practice, and the processor learns only the amount." }),
    field("Amount ($)", { name: "amount", inputmode: "decimal", autocomplete: "off", class: "short" }),
    el("div", { class: "actions" }, el("button", { type: "submit", text: "Start a card payment" })),
    next,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form);
    busy(event.submitter, async () => {
      let started;
      try {
        started = await call("POST", `/v1/patients/${pid}/card-checkout`, { amount: form.elements.amount.value.trim() });
      } catch (error) {
        showFormError(form, error, { decimal_parsing: "Enter an amount like 40.00.", greater_than: "Enter an amount above zero." });
        return;
      }
      const link = el("a", { href: started.url, target: "_blank", rel: "noopener noreferrer", text: `Open the card page for ${money(started.amount)} (new tab)` });
      const done = el("button", { type: "button", class: "quiet", text: "Paid: update the balance" });
      done.addEventListener("click", () => busy(done, () => refresh("Balance updated.")));
      next.replaceChildren(link, " ", done);
      next.hidden = false;
      link.focus();
      announce("The card page is ready.");
    });
  });
  return section("card-payment", "Card payment", form);
}

function slidingScaleForm(pid) {
  const form = el(
    "form",
    { id: "sliding-form", novalidate: true },
    el("div", { class: "row" },
      field("Discount (%)", { name: "percent", inputmode: "decimal", autocomplete: "off", class: "short" }, { hint: "Off the practice fee when a session is billed to the patient." }),
      field("Reason", { name: "reason", autocomplete: "off", maxlength: "200" }, { hint: "For example: household income under the practice's sliding-scale table." }),
    ),
    el("div", { class: "actions" }, el("button", { type: "submit", text: "Set the sliding scale" })),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form);
    busy(event.submitter, async () => {
      let scale;
      try {
        scale = await call("PUT", `/v1/patients/${pid}/sliding-scale`, { percent: form.elements.percent.value.trim(), reason: form.elements.reason.value.trim() });
      } catch (error) {
        showFormError(form, error, { less_than_equal: "At most 100.", greater_than_equal: "At least 0.", decimal_parsing: "Enter a number like 40." });
        return;
      }
      announce(`Sliding scale set: ${Number(scale.percent)}% off self-pay sessions.`);
    });
  });
  return section("sliding-scale", "Sliding scale (self-pay)", form);
}

function adjustmentForm(pid, refresh) {
  const form = el(
    "form",
    { id: "adjustment-form", novalidate: true },
    field("Kind", { name: "kind" }, { tag: "select", options: [["write_off", "Write-off"], ["refund", "Refund"]] }),
    field("Amount ($)", { name: "amount", inputmode: "decimal", autocomplete: "off", class: "short" }),
    field("Reason", { name: "reason", autocomplete: "off", maxlength: "200" }, { hint: "For example: small balance, hardship, overpayment returned. No clinical detail." }),
    el("div", { class: "actions" }, el("button", { type: "submit", text: "Post or ask for approval" })),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form);
    busy(event.submitter, async () => {
      let result;
      try {
        result = await call("POST", `/v1/patients/${pid}/adjustments`, {
          kind: form.elements.kind.value,
          amount: form.elements.amount.value.trim(),
          reason: form.elements.reason.value.trim(),
        });
      } catch (error) {
        showFormError(form, error, { decimal_parsing: "Enter an amount like 25.00.", greater_than: "Enter an amount above zero.", string_pattern_mismatch: "Use letters, digits and simple punctuation only." });
        return;
      }
      form.reset();
      // 202: above the threshold, a request for someone else; 201: posted.
      await refresh(result.status === "pending" ? "Above the approval threshold: the request waits for a second person (Approvals)." : "Posted to the ledger.");
    });
  });
  return section("adjust", "Write off or refund", el("p", { class: "hint", text: "Above the practice's threshold this becomes a request that someone else must approve." }), form);
}

async function estimates(pid) {
  const list = el("div", { id: "estimate-list" });
  const box = section("estimates", "Good Faith Estimates", el("p", { class: "hint", text: "For self-pay patients (45 CFR 149.610). A warning shows when billed charges reach the estimate plus $400." }), list);
  async function draw(message) {
    const items = await call("GET", `/v1/patients/${pid}/good-faith-estimates`);
    list.replaceChildren(
      table(
        "Good Faith Estimates, newest first",
        ["Written", "Period", "Due by", "Estimate", "Billed so far", "", ""],
        items.map((e) => {
          const pdf = el("button", { type: "button", class: "quiet small", text: "PDF" }, el("span", { class: "visually-hidden", text: ` of the estimate for ${dateText(e.period_start)} to ${dateText(e.period_end)}` }));
          pdf.addEventListener("click", () => busy(pdf, async () => savePdf(await call("GET", `/v1/patients/${pid}/good-faith-estimates/${encodeURIComponent(e.id)}/pdf`), "good-faith-estimate.pdf")));
          return [
            dateText(e.created_at),
            `${dateText(e.period_start)} – ${dateText(e.period_end)}`,
            e.due_by ? dateText(e.due_by) : "",
            e.total_min === e.total_max ? money(e.total_max) : `${money(e.total_min)} – ${money(e.total_max)}`,
            e.billed === null ? "" : money(e.billed),
            e.dispute_warning ? el("span", { class: "badge danger", text: `Over the estimate + $400 (${money(e.dispute_threshold)})` }) : "",
            pdf,
          ];
        }),
        "No estimates.",
      ),
    );
    if (message) announce(message);
  }
  await draw();
  if (can("gfe.create") && can("billing.setup.read")) box.append(await estimateForm(pid, draw));
  return box;
}

async function estimateForm(pid, redraw) {
  const identities = (await call("GET", "/v1/billing/identities")).filter((i) => i.kind === "person");
  const today = new Date().toISOString().slice(0, 10);
  const yearOn = new Date(Date.now() + 364 * 86400000).toISOString().slice(0, 10);
  const form = el(
    "form",
    { id: "estimate-form", novalidate: true, "aria-labelledby": "estimate-form-title" },
    el("h3", { id: "estimate-form-title", text: "Write an estimate" }),
    field("Clinician", { name: "provider_identity_id" }, { tag: "select", options: identities.map((i) => [i.id, `${i.first_name || ""} ${i.name} (NPI ${i.npi})`.trim()]) }),
    el(
      "div",
      { class: "row" },
      field("Service (CPT)", { name: "procedure", value: "90837", maxlength: "5", autocomplete: "off", class: "short" }),
      field("Description", { name: "description", value: "Psychotherapy, 53 minutes or more", maxlength: "80", autocomplete: "off" }),
      field("Fee per session ($)", { name: "fee", inputmode: "decimal", autocomplete: "off", class: "short" }),
    ),
    el(
      "div",
      { class: "row" },
      field("Sessions at least", { name: "quantity_min", type: "number", min: "0", max: "500", value: "12", class: "short" }),
      field("Sessions at most", { name: "quantity_max", type: "number", min: "1", max: "500", value: "26", class: "short" }),
    ),
    el(
      "div",
      { class: "row" },
      field("From", { name: "period_start", type: "date", value: today }),
      field("To", { name: "period_end", type: "date", value: yearOn }, { hint: "Up to 12 months for recurring psychotherapy." }),
      field("First session (optional)", { name: "service_date", type: "date" }, { hint: "Sets the due date (business days)." }),
    ),
    el("div", { class: "actions" }, el("button", { type: "submit", text: "Write the estimate" })),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form);
    busy(event.submitter, async () => {
      const f = form.elements;
      const body = {
        provider_identity_id: f.provider_identity_id.value,
        items: [
          {
            procedure: f.procedure.value.trim(),
            description: f.description.value.trim(),
            fee: f.fee.value.trim(),
            quantity_min: Number(f.quantity_min.value),
            quantity_max: Number(f.quantity_max.value),
          },
        ],
        period_start: f.period_start.value,
        period_end: f.period_end.value,
        ...(f.service_date.value ? { service_date: f.service_date.value } : {}),
      };
      try {
        await call("POST", `/v1/patients/${pid}/good-faith-estimates`, body);
      } catch (error) {
        // Item fields come back as body.items.0.<name>: show them next to the one item's fields.
        if (error.details && error.details.fields) {
          for (const problem of error.details.fields) problem.path = String(problem.path).replace(/^body\.items\.0\./, "body.");
        }
        showFormError(form, error);
        return;
      }
      await redraw("Estimate written. Give the patient the PDF (or it shows in their portal).");
    });
  });
  return form;
}

function eligibility(pid) {
  const out = el("div", { id: "eligibility-result", "aria-live": "polite" });
  const check = el("button", { type: "button", class: "quiet", id: "check-eligibility", text: "Check eligibility now (270/271)" });
  check.addEventListener("click", () =>
    busy(check, async () => {
      const r = await call("POST", `/v1/patients/${pid}/eligibility`);
      out.replaceChildren(
        el("p", { text: r.active === true ? "Coverage is active." : r.active === false ? "Coverage is NOT active." : "The payer did not say whether coverage is active." }),
        r.other_payer ? el("p", { class: "notice", text: `Mental-health benefits are with another payer: ${r.other_payer}.` }) : "",
        r.rejections.length ? el("p", { class: "notice", text: `The payer could not answer: ${r.rejections.join("; ")}.` }) : "",
        table(
          "Mental-health benefits",
          ["Benefit", "Service types", "Level", "Period", "Amount", "Percent", "Authorisation", "Network"],
          r.benefits.map((b) => [
            b.message || b.kind,
            b.service_types.join(", "),
            b.coverage_level,
            b.period,
            b.amount === null ? "" : money(b.amount),
            b.percent === null ? "" : `${Math.round(Number(b.percent) * (Number(b.percent) <= 1 ? 10000 : 100)) / 100}%`,
            b.authorization_required === null ? "" : b.authorization_required ? "Required" : "Not required",
            b.in_network === null ? "" : b.in_network ? "In network" : "Out of network",
          ]),
          "No benefit rows came back.",
        ),
      );
      announce("Eligibility checked.");
    }),
  );
  return section("eligibility", "Eligibility", el("p", { class: "hint", text: "Copay, coinsurance, deductible, authorisation and network for the mental-health service types. Informational: the payer decides at adjudication." }), check, out);
}

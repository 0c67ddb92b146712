// Reconciliation: a bank statement (CSV or OFX, pasted or chosen as a file) matched against
// 835 EFT traces and card-processor payouts — matched, differing, deposits without a
// source, remittances and payouts without a deposit — and the month-end AR roll-forward
// (begin AR + charges − payments − adjustments + refunds ± reversals = end AR, checked
// against the ledger's own sum).

import { call } from "../../../../shared/api.js";
import { announce, busy, clearErrors, el, field, heading, showFormError, table } from "../../ui.js";
import { dateText, money } from "./common.js";

const SOURCES = { 835: "835 remittance (EFT)", payout: "Card payout" };

export async function render(view) {
  view.append(
    heading("Reconciliation"),
    el("p", { class: "hint", text: "Match what reached the bank with what the payers and the card processor say they sent." }),
    statementPart(),
    arPart(),
  );
}

function statementPart() {
  const report = el("div", { id: "reconciliation-report" });
  const file = el("input", { type: "file", id: "statement-file", accept: ".csv,.ofx,.qfx,text/csv" });
  const form = el(
    "form",
    { id: "statement-form", novalidate: true },
    field("Format", { name: "format" }, { tag: "select", options: [["csv", "CSV (Date, Amount, Description)"], ["ofx", "OFX / QFX"]] }),
    el("div", { class: "field" }, el("label", { for: file.id, text: "Bank statement file (optional)" }), el("p", { class: "hint", text: "Or paste its text below." }), file),
    field("Statement text", { name: "content", rows: "6", spellcheck: "false", autocomplete: "off" }, { tag: "textarea" }),
    el("div", { class: "actions" }, el("button", { type: "submit", text: "Match deposits" })),
  );
  file.addEventListener("change", async () => {
    const chosen = file.files && file.files[0];
    if (!chosen) return;
    form.elements.content.value = await chosen.text();
    if (/\.(ofx|qfx)$/i.test(chosen.name)) form.elements.format.value = "ofx";
    announce(`${chosen.name} loaded.`);
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form);
    busy(event.submitter, async () => {
      let r;
      try {
        r = await call("POST", "/v1/reconciliation/bank-statements", { format: form.elements.format.value, content: form.elements.content.value });
      } catch (error) {
        showFormError(form, error);
        return;
      }
      const deposit = (d) => [dateText(d.date), money(d.amount), d.description || ""];
      report.replaceChildren(
        el("h3", { id: "matched-title", tabindex: "-1", text: `${r.matched.length} matched, ${r.differing.length} differing, ${r.deposits_without_source.length} deposits without a source` }),
        table("Matched deposits", ["Date", "Amount", "Bank description", "Source", "Trace"], r.matched.map((m) => [...deposit(m), SOURCES[m.source] || m.source, m.trace || m.payout_id || ""]), "None matched."),
        table("Deposits that differ from their remittance", ["Date", "Amount", "Bank description", "Expected", "Trace"], r.differing.map((m) => [...deposit(m), money(m.expected), m.trace || ""]), "No differences."),
        table("Deposits without a source (unapplied cash)", ["Date", "Amount", "Bank description"], r.deposits_without_source.map(deposit), "Every deposit has a source."),
        table("835 remittances without a deposit", ["Payment date", "Amount", "Trace"], r.remittances_without_deposit.map((x) => [dateText(x.payment_date), money(x.total), x.trace]), "Every 835 in the period reached the bank."),
        table("Card payouts without a deposit", ["Arrival date", "Amount", "Payout"], r.payouts_without_deposit.map((x) => [dateText(x.arrival_date), money(x.amount), x.payout_id]), "Every card payout reached the bank."),
      );
      announce("Statement matched.");
      report.querySelector("h3").focus();
    });
  });
  return el("section", { class: "note-section", "aria-labelledby": "statement-title" }, el("h2", { id: "statement-title", text: "Bank statement" }), form, report);
}

function arPart() {
  const out = el("div", { id: "ar-result" });
  const last = new Date();
  last.setDate(0); // the previous month's last day
  const form = el(
    "form",
    { id: "ar-form", novalidate: true },
    field("Month", { name: "month", type: "month", value: `${last.getFullYear()}-${String(last.getMonth() + 1).padStart(2, "0")}` }),
    el("div", { class: "actions" }, el("button", { type: "submit", text: "Roll forward" })),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form);
    busy(event.submitter, async () => {
      let r;
      try {
        r = await call("GET", `/v1/reconciliation/ar?month=${encodeURIComponent(form.elements.month.value)}`);
      } catch (error) {
        showFormError(form, error, { invalid_month: "Choose a month." });
        return;
      }
      const ok = r.end_ar === r.ledger_end_ar;
      out.replaceChildren(
        table(`Accounts receivable, ${r.month}`, ["", "Amount"], [
          ["Begin AR", money(r.begin_ar)],
          ["+ Charges", money(r.charges)],
          ["− Payments", money(r.payments)],
          ["− Adjustments", money(r.adjustments)],
          ["+ Refunds", money(r.refunds)],
          ["± Reversals", money(r.reversals)],
          ["= End AR", money(r.end_ar)],
          ["Ledger's own end AR", money(r.ledger_end_ar)],
        ]),
        el("p", { class: `badge ${ok ? "ok" : "danger"}`, text: ok ? "Adds up: the roll-forward equals the ledger." : "Does not add up: look for entries of an unexpected kind." }),
      );
      announce(`AR for ${r.month} rolled forward.`);
    });
  });
  return el("section", { class: "note-section", "aria-labelledby": "ar-title" }, el("h2", { id: "ar-title", text: "Month-end AR roll-forward" }), form, out);
}

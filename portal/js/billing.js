// "Billing": what I owe the practice and my statement as a PDF. The statement comes from
// the API as base64 JSON (an authenticated, audited call) and is saved through a Blob and
// a short-lived object URL: statements are never emailed and never have a URL of their own.

import { call } from "../shared/api.js";
import { $, announce, busy } from "./ui.js";

const KEEP_URL_MS = 60_000;
let patientId = null;

function toBytes(base64) {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function money(amount) {
  const value = Number(amount);
  return `$${value.toFixed(2)}`;
}

function save(data) {
  const blob = new Blob([toBytes(data.content_base64)], { type: data.content_type });
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = data.filename;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), KEEP_URL_MS);
  announce(`Downloading ${data.filename}.`);
}

async function downloadStatement() {
  const data = await call("GET", "/v1/me/statement");
  $("billing-balance").textContent = money(data.patient_balance);
  save(data);
}

async function downloadSuperbill() {
  const year = new Date().getFullYear();
  const q = new URLSearchParams({ from: `${year}-01-01`, to: `${year}-12-31` });
  save(await call("GET", `/v1/patients/${encodeURIComponent(patientId)}/superbill?${q}`));
}

export async function loadBilling(id) {
  patientId = id;
  const ledger = await call("GET", `/v1/patients/${encodeURIComponent(patientId)}/ledger`);
  $("billing-balance").textContent = money(ledger.patient_balance);
  $("billing-insurance").textContent = money(ledger.insurance_balance);
  const owed = Number(ledger.patient_balance) > 0 ? String(ledger.patient_balance) : "";
  $("billing-pay-amount").value = owed;
  await loadEstimates();
  return ledger;
}

function day(iso) {
  const [y, m, d] = iso.split("-").map(Number);
  return new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeZone: "UTC" }).format(new Date(Date.UTC(y, m - 1, d)));
}

async function loadEstimates() {
  const items = await call("GET", `/v1/patients/${encodeURIComponent(patientId)}/good-faith-estimates`);
  const list = $("billing-estimates");
  list.replaceChildren();
  for (const e of items) {
    const range = e.total_min === e.total_max ? money(e.total_max) : `${money(e.total_min)} to ${money(e.total_max)}`;
    const item = document.createElement("li");
    const text = document.createElement("span");
    text.textContent = `${day(e.period_start)} to ${day(e.period_end)}: ${range} `;
    const get = document.createElement("button");
    get.type = "button";
    get.className = "quiet";
    get.textContent = "Download this estimate (PDF)";
    get.addEventListener("click", () =>
      busy(get, async () => save(await call("GET", `/v1/patients/${encodeURIComponent(patientId)}/good-faith-estimates/${encodeURIComponent(e.id)}/pdf`))),
    );
    item.append(text, get);
    list.append(item);
  }
  $("billing-estimates-box").hidden = items.length === 0;
}

function payError(message) {
  const box = $("billing-pay-error");
  box.textContent = message;
  box.hidden = !message;
  if (message) $("billing-pay-amount").setAttribute("aria-invalid", "true");
  else $("billing-pay-amount").removeAttribute("aria-invalid");
}

/** A hosted checkout for the amount: the processor's page opens in a new tab (this tab
 * keeps the session, which lives in memory only); nothing about the patient goes there. */
async function startPayment(event) {
  event.preventDefault();
  payError("");
  const amount = $("billing-pay-amount").value.trim();
  if (!/^\d{1,7}(\.\d{1,2})?$/.test(amount) || Number(amount) <= 0) {
    payError("Enter an amount in dollars, like 40.00.");
    $("billing-pay-amount").focus();
    return;
  }
  const started = await call("POST", `/v1/patients/${encodeURIComponent(patientId)}/card-checkout`, { amount });
  $("billing-pay-link").href = started.url;
  $("billing-pay-link").textContent = `Pay ${money(started.amount)} on the secure card page (new tab)`;
  $("billing-pay-next").hidden = false;
  $("billing-pay-link").focus();
  announce("The secure card page is ready: open it to pay.");
}

async function paid() {
  const ledger = await loadBilling(patientId);
  announce(`Balance updated: you owe ${money(ledger.patient_balance)}.`);
}

export function setUpBilling() {
  $("billing-statement").addEventListener("click", (e) => busy(e.currentTarget, downloadStatement));
  $("billing-superbill").addEventListener("click", (e) => busy(e.currentTarget, downloadSuperbill));
  $("billing-pay").addEventListener("submit", (e) => busy(e.submitter, () => startPayment(e)));
  $("billing-pay-done").addEventListener("click", (e) => busy(e.currentTarget, paid));
}

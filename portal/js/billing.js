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
}

export function setUpBilling() {
  $("billing-statement").addEventListener("click", (e) => busy(e.currentTarget, downloadStatement));
  $("billing-superbill").addEventListener("click", (e) => busy(e.currentTarget, downloadSuperbill));
}

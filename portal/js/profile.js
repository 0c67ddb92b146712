// Contact details and reminder preferences: the only parts of their record a patient may
// change. Every save sends the version it loaded (409 if the office changed it meanwhile).

import { call } from "../shared/api.js";
import { $, announce, busy, formatWhen, showError } from "./ui.js";

const GROUPS = {
  address: ["line1", "line2", "city", "region", "postal_code", "country"],
  emergency_contact: ["name", "relationship", "phone"],
};
const REQUIRED = {
  address: ["line1", "city", "postal_code", "country"],
  emergency_contact: ["name", "relationship", "phone"],
};
let patientId = "";
let loaded = null;

const field = (group, name) => $(`${group}-${name}`);

function phone(value) {
  const compact = value.replace(/[\s().-]/g, "");
  return compact || null;
}

function fill(patient) {
  loaded = patient;
  $("contact-email").value = patient.email || "";
  $("contact-phone").value = patient.phone || "";
  for (const [group, names] of Object.entries(GROUPS)) {
    for (const name of names) field(group, name).value = (patient[group] || {})[name] || "";
  }
  if (!patient.address) field("address", "country").value = "US";
  const comm = patient.communication;
  $("email-reminders").checked = comm.email_reminders && !comm.email_opted_out_at;
  $("sms-reminders").checked = comm.sms_reminders && !comm.sms_opted_out_at;
  const notes = [];
  if (comm.email_opted_out_at) {
    notes.push(`You unsubscribed from email reminders on ${formatWhen(comm.email_opted_out_at)}.`);
  }
  if (comm.sms_opted_out_at) {
    notes.push(`You stopped text reminders on ${formatWhen(comm.sms_opted_out_at)}.`);
  }
  $("optout-note").textContent = notes.join(" ");
  $("optout-note").hidden = notes.length === 0;
}

export async function loadProfile(id) {
  patientId = id;
  const patient = await call("GET", `/v1/patients/${encodeURIComponent(id)}`);
  fill(patient);
  return patient;
}

function group(name) {
  const values = {};
  for (const key of GROUPS[name]) {
    const value = field(name, key).value.trim();
    if (value) values[key] = key === "phone" ? phone(value) : value;
  }
  const used = Object.keys(values).some((k) => k !== "country");
  // A partly filled group must be completed; an empty one clears it.
  for (const key of REQUIRED[name]) field(name, key).required = used;
  return used ? values : null;
}

function changes() {
  const body = {
    version: loaded.version,
    email: $("contact-email").value.trim() || null,
    phone: phone($("contact-phone").value),
    address: group("address"),
    emergency_contact: group("emergency_contact"),
    communication: {
      email_reminders: $("email-reminders").checked,
      sms_reminders: $("sms-reminders").checked,
    },
  };
  return body;
}

export function setUpProfile() {
  $("profile-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const body = changes();
    if (!form.reportValidity()) return;
    busy($("profile-save"), async () => {
      try {
        fill(await call("PATCH", `/v1/patients/${encodeURIComponent(patientId)}`, body));
      } catch (error) {
        if (error.code === "version_conflict") await loadProfile(patientId);
        throw error;
      }
      showError("");
      announce("Your contact details and reminder preferences are saved.");
    });
  });
}

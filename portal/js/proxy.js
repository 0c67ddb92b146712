// The portal for a proxy: a parent, guardian or other representative who acts for one or
// more patients with an account of their own. A switcher picks the patient; what shows is
// what the practice's grant allows now (messages with the care team, upcoming
// appointments). Every call names the patient and is checked and audited by the API.
// Everything is set as text, never markup.

import { call } from "../shared/api.js";
import { $, announce, busy, el, formatWhen } from "./ui.js";

let patients = [];
let acting = null; // the patient acted for
let openThreadId = null;

const when = (iso) => formatWhen(iso, { dateStyle: "medium", timeStyle: "short" });
const base = () => `/v1/proxy/patients/${encodeURIComponent(acting.patient_id)}`;
const may = (scope) => acting !== null && acting.scopes.includes(scope);

function threadItem(t) {
  return el(
    "li",
    { class: "appt" },
    el("p", { class: "when", text: t.subject }),
    el("p", { text: `${t.message_count} message${t.message_count === 1 ? "" : "s"}, last ${when(t.last_message_at)}.` }),
    el(
      "button",
      { type: "button", class: "quiet", onclick: (e) => busy(e.currentTarget, () => openThread(t.id)) },
      "Open",
      el("span", { class: "visually-hidden", text: ` conversation: ${t.subject}` }),
    ),
  );
}

function messageItem(m) {
  const who = m.mine ? "You" : m.author_kind === "system" ? `${m.author_name} (automatic)` : m.author_name;
  return el(
    "li",
    { class: "appt" },
    el("p", { class: "when", text: `${who}, ${when(m.sent_at)}` }),
    el("p", { class: "message-body", text: m.restricted ? "This message is being reviewed by the practice." : m.body }),
  );
}

async function loadThreads() {
  const data = await call("GET", `${base()}/threads`);
  $("proxy-threads").replaceChildren(...data.items.map(threadItem));
  $("proxy-threads-empty").hidden = data.items.length > 0;
}

async function openThread(threadId) {
  const page = await call("GET", `${base()}/threads/${encodeURIComponent(threadId)}`);
  openThreadId = threadId;
  $("proxy-thread-subject").textContent = page.subject;
  $("proxy-thread-messages").replaceChildren(...page.messages.map(messageItem));
  $("proxy-thread").hidden = false;
  $("proxy-thread-subject").focus();
}

async function loadAppointments() {
  const data = await call("GET", `${base()}/appointments`);
  $("proxy-appointment-list").replaceChildren(
    ...data.items.map((a) =>
      el(
        "li",
        { class: "appt" },
        el("p", { class: "when", text: when(a.start) }),
        el("p", { text: `With ${a.clinician_name || "your clinician"}${a.location_kind === "video" ? ", by video" : ""}. ${a.status.replaceAll("_", " ")}.` }),
      ),
    ),
  );
  $("proxy-appointments-empty").hidden = data.items.length > 0;
}

async function actFor(patientId) {
  acting = patients.find((p) => p.patient_id === patientId) || null;
  openThreadId = null;
  $("proxy-thread").hidden = true;
  $("proxy-acting-name").textContent = acting ? acting.display_name : "nobody";
  $("proxy-messages").hidden = !may("messaging");
  $("proxy-appointments").hidden = !may("appointments");
  await Promise.all([
    may("messaging") ? loadThreads() : null,
    may("appointments") ? loadAppointments() : null,
  ]);
}

/** Loads the proxy's patients and shows the first; resolves once the view is filled. */
export async function loadProxy(me) {
  $("proxy-who").textContent = me.display_name;
  const data = await call("GET", "/v1/proxy/patients");
  patients = data.items;
  $("proxy-patient").replaceChildren(
    ...patients.map((p) => el("option", { value: p.patient_id, text: p.display_name })),
  );
  $("proxy-switch").hidden = patients.length < 2;
  $("proxy-none").hidden = patients.length > 0;
  await actFor(patients.length ? patients[0].patient_id : null);
}

export function resetProxy() {
  patients = [];
  acting = null;
  openThreadId = null;
  for (const id of ["proxy-threads", "proxy-thread-messages", "proxy-appointment-list", "proxy-patient"]) $(id).replaceChildren();
  $("proxy-new-form").reset();
  $("proxy-reply-form").reset();
}

export function setUpProxy() {
  $("proxy-patient").addEventListener("change", (event) => {
    const select = event.currentTarget;
    busy(select, async () => {
      await actFor(select.value);
      announce(`Now acting for ${acting ? acting.display_name : "nobody"}.`);
      $("proxy-title").focus();
    });
  });
  $("proxy-new-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    if (!form.reportValidity()) return;
    busy(event.submitter, async () => {
      const sent = await call("POST", `${base()}/threads`, {
        subject: $("proxy-new-subject").value.trim(),
        body: $("proxy-new-body").value.trim(),
      });
      form.reset();
      await loadThreads();
      await openThread(sent.thread_id);
      announce(sent.auto_reply ? `Message sent. ${sent.auto_reply}` : "Message sent to the care team.");
    });
  });
  $("proxy-reply-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    if (!form.reportValidity() || !openThreadId) return;
    busy(event.submitter, async () => {
      await call("POST", `${base()}/threads/${encodeURIComponent(openThreadId)}/messages`, {
        body: $("proxy-reply-body").value.trim(),
      });
      form.reset();
      await openThread(openThreadId);
      announce("Reply sent.");
    });
  });
}

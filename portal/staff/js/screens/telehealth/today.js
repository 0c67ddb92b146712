// Today's video visits for the signed-in clinician: each telehealth appointment of the day
// with its visit's state (not started, someone waiting, in progress, ended) and the action
// that fits (start, open). Refreshed every few seconds so a patient who enters the waiting
// room shows up without a reload.

import { call } from "../../../../shared/api.js";
import { navigate } from "../../router.js";
import { current } from "../../session.js";
import { addMessages, announce, busy, el, formatTime, heading, localDate, table } from "../../ui.js";
import { addDays, zonedInstant } from "../../zoned.js";
import { patientName } from "../patients/search.js";
import { can } from "../../permissions.js";

const POLL_MS = 4000;

addMessages({
  visit_ended: "This visit has ended; it cannot be started again.",
  visit_not_started: "Start the visit first.",
  invalid_participant_state: "That person is no longer waiting (they may have left). The list is up to date.",
  not_a_telehealth_appointment: "Only a booked or arrived video appointment has a visit.",
  sharing_not_allowed: "The practice's policy or the patient's consent does not allow that.",
  vendor_agreement_required:
    "The practice has no business associate agreement with the video service in effect. An administrator must record it before visits can start.",
});

export async function startVisit(appointmentId) {
  const visit = await call("POST", `/v1/appointments/${encodeURIComponent(appointmentId)}/visit`);
  navigate(`/visits/${visit.id}`);
}

export function visitState(visit) {
  if (!visit) return "Not started";
  if (visit.status === "ended") return "Ended";
  const waiting = visit.waiting ? `${visit.waiting} waiting` : "";
  if (visit.status === "open") return waiting ? `In progress, ${waiting}` : "In progress";
  return waiting || "Not started";
}

export async function render(view) {
  const zone = current.practice.timezone;
  const day = localDate(new Date());
  const locations = await call("GET", "/v1/locations");
  const video = new Set(locations.items.filter((l) => l.kind === "telehealth").map((l) => l.id));
  const q = new URLSearchParams({
    clinician_id: current.me.id,
    from: zonedInstant(day, "00:00", zone).toISOString(),
    to: zonedInstant(addDays(day, 1), "00:00", zone).toISOString(),
    limit: "100",
  });
  const appointments = (await call("GET", `/v1/appointments?${q}`)).items
    .filter((a) => video.has(a.location_id) && a.status !== "cancelled")
    .sort((a, b) => a.start.localeCompare(b.start));
  const names = new Map();
  async function name(pid) {
    if (!can("patient.read")) return "Patient";
    if (!names.has(pid)) {
      try {
        names.set(pid, patientName(await call("GET", `/v1/patients/${encodeURIComponent(pid)}`)));
      } catch {
        names.set(pid, "Patient");
      }
    }
    return names.get(pid);
  }
  const people = new Map();
  for (const a of appointments) people.set(a.id, (await Promise.all(a.patient_ids.map(name))).join(", "));

  const box = el("section", { id: "visits-today", "aria-labelledby": "visits-today-title" });
  let timer = null;
  let lastWaiting = -1;
  let drawn = "";

  async function draw() {
    const visits = new Map((await call("GET", "/v1/visits")).items.map((v) => [v.appointment_id, v]));
    // Redraw only when something changed: a redraw would take the keyboard focus away.
    const shape = JSON.stringify([...visits.values()].map((v) => [v.id, v.status, v.waiting]));
    if (shape === drawn) return;
    drawn = shape;
    const rows = appointments.map((a) => {
      const visit = visits.get(a.id);
      const label = `${formatTime(a.start)} ${people.get(a.id)}`;
      let action;
      if (visit && visit.status === "open") {
        action = el("a", { class: "button-link", href: `#/visits/${visit.id}`, "aria-label": `Open visit: ${label}`, text: "Open visit" });
      } else if (can("visit.start") && a.status !== "no_show" && a.status !== "completed") {
        action = el("button", { type: "button", class: "small", "aria-label": `Start visit: ${label}`, text: "Start visit" });
        action.addEventListener("click", () => busy(action, () => startVisit(a.id)));
      } else {
        action = "";
      }
      const state = el("span", { class: visit && visit.waiting ? "badge danger" : "badge", "data-visit-state": a.id, text: visitState(visit) });
      return [`${formatTime(a.start)}–${formatTime(a.end)}`, people.get(a.id), state, action];
    });
    const waiting = [...visits.values()].reduce((n, v) => n + (v.waiting || 0), 0);
    if (lastWaiting >= 0 && waiting > lastWaiting) announce(waiting === 1 ? "1 person is waiting." : `${waiting} people are waiting.`);
    lastWaiting = waiting;
    box.replaceChildren(
      el("h2", { id: "visits-today-title", text: waiting ? `${waiting} waiting` : "Nobody waiting" }),
      table("Your video visits today", ["Time", "Patient", "Visit", "Action"], rows, "You have no video visits today."),
    );
  }

  async function poll() {
    try {
      await draw();
    } catch {
      /* the next poll tries again; the session module reports a signed-out session */
    }
    timer = setTimeout(poll, POLL_MS);
  }

  await draw();
  timer = setTimeout(poll, POLL_MS);
  view.append(
    heading("Video visits"),
    el("p", { class: "hint", text: "Patients wait in the waiting room until you let them in. Start the visit, then admit each person after checking them against the chart." }),
    box,
  );
  return () => clearTimeout(timer);
}

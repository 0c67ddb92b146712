// Upcoming and past appointments; cancelling one (with a reason) or moving it to a free time.

import { call } from "../shared/api.js";
import { fillSlots, loadSlots, slotsMessage } from "./slots.js";
import { $, announce, busy, el, formatWhen, localDate } from "./ui.js";

const DAY = 86400000;
const RANGE_DAYS = 90; // the API serves up to 92 days per request

// clinicians: whom the practice's rules let this patient book online ({id, display_name,
// credentials}); seen: ids of the clinicians on the patient's own appointments.
export const catalogue = {
  services: new Map(),
  locations: new Map(),
  clinicians: [],
  seen: new Set(),
};

async function pages(path) {
  const items = [];
  let cursor = null;
  for (let page = 0; page < 5; page += 1) {
    const sep = path.includes("?") ? "&" : "?";
    const more = cursor ? `${sep}cursor=${encodeURIComponent(cursor)}` : "";
    const data = await call("GET", path + more);
    items.push(...data.items);
    cursor = data.next_cursor;
    if (!cursor) break;
  }
  return items;
}

function range(from, to) {
  const q = new URLSearchParams({ from: from.toISOString(), to: to.toISOString(), limit: "100" });
  return `/v1/me/appointments?${q}`;
}

export async function loadCatalogue() {
  const [services, locations, clinicians] = await Promise.all([
    call("GET", "/v1/services"),
    call("GET", "/v1/locations"),
    call("GET", "/v1/me/bookable-clinicians"),
  ]);
  catalogue.services = new Map(services.items.map((s) => [s.id, s]));
  catalogue.locations = new Map(locations.items.map((l) => [l.id, l]));
  catalogue.clinicians = clinicians.items;
}

const STATUS = {
  booked: "Booked",
  arrived: "Checked in",
  completed: "Completed",
  cancelled: "Cancelled",
  no_show: "Missed",
};

function describeVisit(appt) {
  const service = catalogue.services.get(appt.service_id);
  const location = catalogue.locations.get(appt.location_id);
  const kind = appt.location_kind === "telehealth" ? "Video visit" : "In person";
  const parts = [service ? service.name : "Appointment", kind];
  if (location && appt.location_kind !== "telehealth") parts.push(location.name);
  return parts.join(" · ");
}

function cancelForm(appt, whenId, opener, onDone) {
  const reasonId = `reason-${appt.id}`;
  const form = el(
    "form",
    { class: "cancel", hidden: true, "aria-label": "Cancel this appointment" },
    el("label", { for: reasonId, text: "Reason for cancelling" }),
    el("textarea", { id: reasonId, name: "reason", required: true, maxlength: "500", rows: "2" }),
    el(
      "div",
      { class: "actions" },
      el("button", { type: "submit", class: "danger", text: "Confirm cancellation" }),
      el("button", { type: "button", class: "quiet", text: "Keep appointment" }),
    ),
  );
  const [confirm, keep] = form.querySelectorAll("button");
  keep.addEventListener("click", () => {
    form.hidden = true;
    opener.focus();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    busy(confirm, async () => {
      const reason = form.elements.reason.value.trim();
      const path = `/v1/me/appointments/${encodeURIComponent(appt.id)}/cancel`;
      await call("POST", path, { version: appt.version, reason });
      announce(`Cancelled your appointment on ${$(whenId).textContent}.`);
      await onDone();
      $("upcoming-title").focus();
    });
  });
  return form;
}

// Online moves follow the booking rules, so only visits patients could book get the button.
function movable(appt) {
  const service = catalogue.services.get(appt.service_id);
  const online = catalogue.clinicians.some((c) => c.id === appt.clinician_id);
  return Boolean(online && service && service.self_bookable && service.active);
}

function rescheduleForm(appt, whenId, opener, onDone) {
  const slotId = `move-slot-${appt.id}`;
  const form = el(
    "form",
    { class: "cancel", hidden: true, "aria-label": "Reschedule this appointment" },
    el("label", { for: slotId, text: "New time" }),
    el("select", { id: slotId, name: "slot", required: true }),
    el(
      "div",
      { class: "actions" },
      el("button", { type: "submit", text: "Move to this time" }),
      el("button", { type: "button", class: "quiet", text: "Keep current time" }),
    ),
  );
  const select = form.elements.slot;
  const [confirm, keep] = form.querySelectorAll("button");
  keep.addEventListener("click", () => {
    form.hidden = true;
    opener.focus();
  });
  // Same clinician and service: the free times from today (the current time is not free).
  const show = async () => {
    const items = await loadSlots(appt.clinician_id, appt.service_id, localDate(new Date()));
    const others = items.filter((slot) => new Date(slot.start) - new Date(appt.start) !== 0);
    fillSlots(select, others);
    form.hidden = others.length === 0;
    announce(slotsMessage(others.length));
    if (others.length) select.focus();
  };
  opener.addEventListener("click", () => busy(opener, show));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    busy(confirm, async () => {
      const [start, locationId] = JSON.parse(select.value);
      const path = `/v1/me/appointments/${encodeURIComponent(appt.id)}/reschedule`;
      try {
        await call("POST", path, { version: appt.version, start, location_id: locationId });
      } catch (error) {
        // Taken meanwhile, or the visit changed: reload so the next try starts fresh.
        if (error.status === 409) await onDone();
        throw error;
      }
      await onDone();
      announce(`Moved your appointment to ${formatWhen(start)}.`);
      $("upcoming-title").focus();
    });
  });
  return form;
}

function item(appt, upcoming, onChange) {
  const whenId = `when-${appt.id}`;
  const li = el(
    "li",
    { class: `appt status-${appt.status}`, "data-id": appt.id },
    el(
      "p",
      { class: "when" },
      el("span", { id: whenId, text: formatWhen(appt.start) }),
      el("span", { class: "badge", text: STATUS[appt.status] || appt.status }),
    ),
    el("p", { text: describeVisit(appt) }),
  );
  if (upcoming && joinable(appt)) {
    const join = el("button", {
      type: "button",
      class: "join",
      "aria-describedby": whenId,
      text: "Join video visit",
    });
    join.addEventListener("click", () => openVisit(appt.id));
    li.append(el("div", { class: "actions" }, join));
  }
  if (upcoming && appt.status === "booked") {
    const open = el("button", {
      type: "button",
      "aria-describedby": whenId,
      text: "Cancel appointment",
    });
    const form = cancelForm(appt, whenId, open, onChange);
    open.addEventListener("click", () => {
      form.hidden = false;
      form.querySelector("textarea").focus();
    });
    const buttons = el("div", { class: "actions" }, open);
    const forms = [form];
    if (movable(appt)) {
      const move = el("button", {
        type: "button",
        class: "quiet",
        "aria-describedby": whenId,
        text: "Reschedule",
      });
      buttons.append(move);
      forms.push(rescheduleForm(appt, whenId, move, onChange));
    }
    li.append(buttons, ...forms);
  }
  return li;
}

// The waiting room opens an hour before a video visit and closes an hour after it.
const JOIN_WINDOW = 3600000;

function joinable(appt) {
  const now = Date.now();
  return (
    appt.location_kind === "telehealth" &&
    (appt.status === "booked" || appt.status === "arrived") &&
    new Date(appt.start).getTime() - JOIN_WINDOW <= now &&
    now <= new Date(appt.end).getTime() + JOIN_WINDOW
  );
}

let visitOpener = () => {};

/** main.js says how to show the visit page (it owns which view is on screen). */
export function onOpenVisit(callback) {
  visitOpener = callback;
}

function openVisit(appointmentId) {
  visitOpener(appointmentId);
}

function render(listId, appts, upcoming, empty, onChange) {
  const list = $(listId);
  list.replaceChildren(...appts.map((a) => item(a, upcoming, onChange)));
  if (!appts.length) list.append(el("li", { class: "empty", text: empty }));
}

export async function loadAppointments() {
  const now = new Date();
  const [future, past] = await Promise.all([
    pages(range(new Date(now.getTime() - DAY), new Date(now.getTime() + RANGE_DAYS * DAY))),
    pages(range(new Date(now.getTime() - RANGE_DAYS * DAY), now)),
  ]);
  const upcoming = future.filter((a) => new Date(a.end) > now);
  const seen = new Set(upcoming.map((a) => a.id));
  const earlier = past.filter((a) => !seen.has(a.id) && new Date(a.end) <= now);
  upcoming.sort((a, b) => a.start.localeCompare(b.start));
  earlier.sort((a, b) => b.start.localeCompare(a.start));
  catalogue.seen = new Set([...upcoming, ...earlier].map((a) => a.clinician_id));
  const reload = () => loadAppointments();
  render("upcoming", upcoming, true, "You have no upcoming appointments.", reload);
  render("past", earlier, false, "No appointments in the last three months.", reload);
}

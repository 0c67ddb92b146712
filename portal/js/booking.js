// Online booking within the practice's rules: a self-bookable service, a clinician the
// patient already sees, a free slot. The API enforces the rules; this only offers choices.

import { call } from "./api.js";
import { catalogue, loadAppointments } from "./appointments.js";
import { $, announce, busy, el, formatDay, formatTime, localDate, showError } from "./ui.js";

const SPAN_DAYS = 14; // the slots API serves up to 31 days per request

function option(value, text) {
  return el("option", { value, text });
}

function clinicianLabel(clinician) {
  const { display_name: name, credentials } = clinician;
  return credentials ? `${name}, ${credentials}` : name;
}

export function renderBookingChoices() {
  const services = [...catalogue.services.values()].filter((s) => s.self_bookable && s.active);
  // The practice's online list (from the API), narrowed to clinicians the patient sees.
  const clinicians = catalogue.clinicians.filter((c) => catalogue.seen.has(c.id));
  const ready = services.length > 0 && clinicians.length > 0;
  $("book-form").hidden = !ready;
  $("book-unavailable").hidden = ready;
  $("slot-form").hidden = true;
  $("book-service").replaceChildren(
    ...services.map((s) => option(s.id, `${s.name} (${s.duration_minutes} minutes)`)),
  );
  $("book-clinician").replaceChildren(...clinicians.map((c) => option(c.id, clinicianLabel(c))));
  const today = localDate(new Date());
  $("book-from").min = today;
  if (!$("book-from").value || $("book-from").value < today) $("book-from").value = today;
}

function addDays(isoDate, days) {
  const d = new Date(`${isoDate}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

async function showSlots() {
  const clinician = $("book-clinician").value;
  const from = $("book-from").value;
  const q = new URLSearchParams({
    service_id: $("book-service").value,
    from,
    to: addDays(from, SPAN_DAYS - 1),
  });
  const path = `/v1/clinicians/${encodeURIComponent(clinician)}/slots?${q}`;
  const { items } = await call("GET", path);
  const select = $("slot");
  const groups = new Map();
  for (const slot of items) {
    const day = formatDay(slot.start);
    if (!groups.has(day)) groups.set(day, el("optgroup", { label: day }));
    const value = JSON.stringify([slot.start, slot.location_id]);
    groups.get(day).append(option(value, `${day}, ${formatTime(slot.start)}`));
  }
  select.replaceChildren(...groups.values());
  $("slot-form").hidden = items.length === 0;
  const message = items.length
    ? `${items.length} available times in the next ${SPAN_DAYS} days.`
    : `No times are available online in the ${SPAN_DAYS} days from that date. Try a later date.`;
  announce(message);
  if (items.length) select.focus();
}

async function book() {
  const [start, locationId] = JSON.parse($("slot").value);
  const body = {
    clinician_id: $("book-clinician").value,
    service_id: $("book-service").value,
    location_id: locationId,
    start,
  };
  try {
    await call("POST", "/v1/me/appointments", body);
  } catch (error) {
    if (error.status === 409) await showSlots(); // taken meanwhile: offer what is left
    throw error;
  }
  $("slot-form").hidden = true;
  await loadAppointments();
  renderBookingChoices();
  announce(`Booked: ${formatDay(start)}, ${formatTime(start)}.`);
  $("upcoming-title").focus();
}

export function setUpBooking() {
  $("book-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (!event.currentTarget.reportValidity()) return;
    busy(event.submitter || $("book-show"), showSlots);
  });
  $("slot-form").addEventListener("submit", (event) => {
    event.preventDefault();
    showError("");
    busy($("book-confirm"), book);
  });
}

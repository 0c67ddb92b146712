// Online booking within the practice's rules: a self-bookable service, a clinician the
// patient already sees, a free slot. The API enforces the rules; this only offers choices.

import { call } from "../shared/api.js";
import { catalogue, loadAppointments } from "./appointments.js";
import { fillSlots, loadSlots, slotsMessage } from "./slots.js";
import { $, announce, busy, el, formatDay, formatTime, localDate, showError } from "./ui.js";

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

async function showSlots() {
  const items = await loadSlots(
    $("book-clinician").value,
    $("book-service").value,
    $("book-from").value,
  );
  const select = $("slot");
  fillSlots(select, items);
  $("slot-form").hidden = items.length === 0;
  announce(slotsMessage(items.length));
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

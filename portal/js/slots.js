// Free times for a clinician and service, shared by booking and rescheduling so both offer
// the same choices the same way.

import { call } from "../shared/api.js";
import { el, formatDay, formatTime } from "./ui.js";

export const SPAN_DAYS = 14; // the slots API serves up to 31 days per request

function addDays(isoDate, days) {
  const d = new Date(`${isoDate}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

/** Free slots ({start, location_id, ...}) from local date `from` for SPAN_DAYS days. */
export async function loadSlots(clinicianId, serviceId, from) {
  const q = new URLSearchParams({
    service_id: serviceId,
    from,
    to: addDays(from, SPAN_DAYS - 1),
  });
  const { items } = await call("GET", `/v1/clinicians/${encodeURIComponent(clinicianId)}/slots?${q}`);
  return items;
}

/** The times an intake offers for the first visit (its service, a clinician of the care
 * team), the same span and shape as loadSlots. */
export async function loadOfferedSlots(clinicianId, from) {
  const q = new URLSearchParams({ clinician_id: clinicianId, from, to: addDays(from, SPAN_DAYS - 1) });
  const { items } = await call("GET", `/v1/me/intake/slots?${q}`);
  return items;
}

/** Fills a <select> with the slots grouped by day; each value is [start, location_id]. */
export function fillSlots(select, items) {
  const groups = new Map();
  for (const slot of items) {
    const day = formatDay(slot.start);
    if (!groups.has(day)) groups.set(day, el("optgroup", { label: day }));
    const value = JSON.stringify([slot.start, slot.location_id]);
    groups.get(day).append(el("option", { value, text: `${day}, ${formatTime(slot.start)}` }));
  }
  select.replaceChildren(...groups.values());
}

/** What to announce after loading slots. */
export function slotsMessage(count) {
  return count
    ? `${count} available times in the next ${SPAN_DAYS} days.`
    : `No times are available online in the ${SPAN_DAYS} days from that date. Try a later date.`;
}

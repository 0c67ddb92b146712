// Booking outside a clinician's availability (their hours, time off, the practice's
// holidays): the API refuses with 422 outside_availability. A role holding
// appointment.override_availability — for this calendar: the refusal's
// details.override_allowed — may book anyway by giving a reason, which is kept sealed with
// the appointment (never shown to the patient) and audited. Everyone else picks another time.

import { can } from "../../permissions.js";
import { field } from "../../ui.js";

export const OVERRIDE = "appointment.override_availability";

const OUTSIDE = "This time is outside the clinician's availability (their hours, time off or a practice holiday). Nothing was booked.";

/** Whether this refusal lets the signed-in user override (role and calendar). */
export function mayOverride(error) {
  return Boolean(error && error.code === "outside_availability" && can(OVERRIDE) && error.details && error.details.override_allowed);
}

/** The words for an outside_availability refusal; a series names its visits outside. */
export function outsideWords(error, { offered = false, elsewhere = "" } = {}) {
  const occurrences = (error.details && error.details.occurrences) || [];
  const which = occurrences.length ? ` Outside: ${occurrences.map((o) => `visit ${o.index + 1} on ${o.date}`).join(", ")}.` : "";
  if (offered) return `${OUTSIDE}${which} To book it anyway, give the reason and try again.`;
  if (mayOverride(error)) return `${OUTSIDE}${which} ${elsewhere || "Pick a time inside their hours."}`;
  return `${OUTSIDE}${which} Pick a time inside their hours, or ask someone who may book outside them.`;
}

/** A reason field, hidden until a refusal offers it. `value()` is the request's
 * `override` (undefined while hidden or empty). */
export function overrideField(id) {
  const box = field(
    "Reason to book outside their availability",
    { id, name: "override.reason", maxlength: "500", rows: "2" },
    { tag: "textarea", hint: "Kept with the appointment, not shown to the patient, and recorded in the audit trail." },
  );
  box.hidden = true;
  const input = box.querySelector("textarea");
  return {
    box,
    input,
    shown: () => !box.hidden,
    value: () => (!box.hidden && input.value.trim() ? { reason: input.value.trim() } : undefined),
    /** After a refusal: shows the field when the user may override; true if shown. */
    offer(error) {
      if (!mayOverride(error)) return false;
      box.hidden = false;
      return true;
    },
    reset() {
      box.hidden = true;
      input.value = "";
    },
  };
}

// The portal's wording for errors, on top of the helpers shared with the staff app.

import { busyWith, describer } from "../shared/ui.js";

export {
  $,
  announce,
  el,
  formatDay,
  formatTime,
  formatWhen,
  localDate,
  showError,
  useTimeZone,
  zoneName,
} from "../shared/ui.js";

export const describe = describer(
  {
    slot_unavailable: "That time was just taken. Please pick another.",
    conflict: "That time was just taken. Please pick another.",
    forbidden: "This is not available in the portal. Please call the practice.",
    identity_not_confirmed: "Those details do not match what the practice has on file. Please check them and try again.",
    verification_locked: "Too many attempts. The practice has been asked to help you; you can also call them.",
    document_changed: "This document was just updated. Please read it again before you sign.",
    intake_step_not_open: "That step is not open right now. Please reload the page.",
    message_restricted: "This message is being reviewed by the practice and cannot be opened.",
    payload_too_large: "That file is too large to send (4 MB at most).",
    invitation_not_valid: "This code did not work: it may have been used or expired. Please ask the practice for a new one.",
  },
  {
    cancel_window: "It is too close to the appointment to cancel online. Please call the practice.",
    minimum_notice: "That time is too soon to book online. Please pick a later time.",
    too_far_ahead: "That time is too far ahead to book online.",
    self_booking_disabled: "Online booking is not available. Please call the practice.",
    service_not_self_bookable: "That service cannot be booked online.",
    clinician_not_self_bookable: "That clinician cannot be booked online.",
  },
);

/** Run an async action with its button disabled; errors show in the alert region. */
export function busy(button, action) {
  return busyWith(describe, button, action);
}

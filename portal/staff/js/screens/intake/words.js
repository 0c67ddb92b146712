// Wording shared by the intake screens: statuses and steps as people say them, and the
// intake API's error codes (docs/api-errors.md).

import { addMessages } from "../../ui.js";

export const STATUS = {
  invited: "Invited: waiting for the patient to sign in",
  in_progress: "In progress",
  in_review: "Waiting for review",
  changes_requested: "Changes requested",
  scheduling: "Booking the first visit",
  completed: "Completed",
  stalled: "Stalled: needs staff",
  cancelled: "Cancelled",
};

export const BADGE = { stalled: "danger", in_review: "warn", changes_requested: "warn", completed: "ok" };

export const STEP = {
  identity: "Identity check",
  forms: "Forms",
  consents: "Consents",
  insurance: "Insurance card",
  review: "Clinician review",
  appointment: "First visit",
};

export const STEP_STATUS = {
  pending: "Not started",
  open: "Open: waiting",
  done: "Done",
  changes_requested: "Changes requested",
};

addMessages({
  intake_step_not_open: "That step is not open any more. The page was reloaded; check the intake's status.",
  intake_closed: "This intake is finished or cancelled.",
});
addMessages({ intake_already_open: "This patient already has an intake under way. Open it from the chart or the intake queue." });

// My hours: a clinician's own weekly hours and exceptions (time off, extra hours). The
// same editor as the practice screen's, for the signed-in clinician only (the API's
// availability.update "self" scope).

import { call } from "../../../shared/api.js";
import { current } from "../session.js";
import { el, heading } from "../ui.js";
import { clinicianHours } from "./admin/practice.js";

export async function render(view) {
  const locations = await call("GET", "/v1/locations");
  const editor = el("div", { id: "hours-editor" });
  view.append(
    heading("My hours"),
    el("p", { class: "hint", text: "When you see patients. Online booking offers times inside these hours, minus time off and visits already booked." }),
    editor,
  );
  await clinicianHours(editor, current.me.id, current.me.display_name, locations.items);
}

// Risk flags addressed to me (as a care-team member or a supervisor), newest first, with
// the acknowledge action. Patients are shown by name (each read is audited by the API).

import { call } from "../../../../shared/api.js";
import { announce, el, formatWhen, heading, table } from "../../ui.js";
import { patientName } from "../patients/search.js";
import { ackCell, flagText, staffNames } from "./flag-ack.js";

export async function render(view) {
  const names = await staffNames();
  const box = el("section", { "aria-labelledby": "flags-list-title" });
  const patients = new Map();

  async function patientLabel(id) {
    if (!patients.has(id)) {
      try {
        patients.set(id, patientName(await call("GET", `/v1/patients/${encodeURIComponent(id)}`)));
      } catch {
        patients.set(id, "Patient");
      }
    }
    return patients.get(id);
  }

  async function draw(message) {
    const data = await call("GET", "/v1/measure-flags?limit=50");
    const rows = [];
    for (const flag of data.items) {
      rows.push([
        formatWhen(flag.raised_at, { dateStyle: "medium", timeStyle: "short" }),
        el("a", { href: `#/patients/${flag.patient_id}`, text: await patientLabel(flag.patient_id) }),
        `${flag.template_id.toUpperCase()}: ${flagText(flag)}`,
        ackCell(flag, names, draw),
      ]);
    }
    const open = data.items.filter((f) => !f.acknowledged_at).length;
    box.replaceChildren(
      el("h2", { id: "flags-list-title", tabindex: "-1", text: `${open} not acknowledged` }),
      table("Risk flags addressed to you, newest first", ["Raised", "Patient", "Flag", "Status"], rows, "No risk flags. Flags from questionnaires your patients answer appear here."),
    );
    if (message) {
      announce(message);
      box.querySelector("h2").focus();
    }
  }
  await draw();
  view.append(
    heading("Risk flags"),
    el("p", { class: "notice", text: "A flag means a questionnaire answer needs a clinician's attention soon. Acknowledge it once you have acted (for example, called the patient)." }),
    box,
  );
}

// Start an intake for a patient: pick one of the practice's intake templates. The patient
// is invited to the portal (an email with a single-use link, or nothing if they already
// have an account) and the workflow opens the first step.

import { call } from "../../../../shared/api.js";
import { busy, clearErrors, el, field, heading, showFormError } from "../../ui.js";
import { navigate } from "../../router.js";
import { patientName } from "../patients/search.js";
import "./words.js";

export async function render(view, { patientId }) {
  const [patient, templates] = await Promise.all([
    call("GET", `/v1/patients/${encodeURIComponent(patientId)}`),
    call("GET", "/v1/intake-templates"),
  ]);
  const crumbs = el("p", { class: "crumbs" }, el("a", { href: `#/patients/${patientId}`, text: patientName(patient) }));
  if (!templates.items.length) {
    view.append(crumbs, heading("Start an intake"), el("p", { class: "empty", text: "The practice has no intake templates yet. An owner or administrator sets them up (which forms, consents and steps an intake has)." }));
    return;
  }
  const form = el("form", { id: "start-intake", novalidate: true },
    field("Intake", { name: "template_id" }, { tag: "select", options: templates.items.map((t) => [t.id, `${t.name} (version ${t.version})`]), hint: "Which forms, consents and steps the patient is asked for." }),
    el("p", { class: "hint", text: "The patient gets an email invitation to the portal (no health information in it); the checklist starts with confirming who they are." }),
    el("div", { class: "actions" }, el("button", { type: "submit", text: "Start the intake" }), el("a", { href: `#/patients/${patientId}`, text: "Back to the chart" })),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form);
    busy(form.querySelector("button[type=submit]"), async () => {
      try {
        const intake = await call("POST", `/v1/patients/${encodeURIComponent(patientId)}/intakes`, { template_id: form.elements.template_id.value });
        navigate(`/intake/${intake.id}`);
      } catch (error) {
        if (error && error.status === 409 && error.code === "conflict") {
          throw Object.assign(new Error("open"), { code: "intake_already_open" });
        }
        if (error && error.code === "validation_failed") {
          showFormError(form, error);
          return;
        }
        throw error;
      }
    });
  });
  view.append(crumbs, heading(`Start an intake for ${patientName(patient)}`), form);
}

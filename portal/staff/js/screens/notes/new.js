// Starting a note for a patient: choose a template (grouped by kind), and a draft is
// created on the server at once (so autosave has a version to carry).

import { call } from "../../../../shared/api.js";
import { navigate } from "../../router.js";
import { busy, clearErrors, el, heading, showFormError } from "../../ui.js";
import { patientName } from "../patients/search.js";

const KINDS = {
  progress_note: "Progress notes",
  assessment: "Assessments",
  treatment_plan: "Treatment plans",
  crisis: "Crisis",
  consent: "Consents",
  form: "Forms",
  administrative: "Administrative",
};

export async function render(view, { patientId }) {
  const [patient, templates] = await Promise.all([
    call("GET", `/v1/patients/${encodeURIComponent(patientId)}`),
    call("GET", "/v1/templates"),
  ]);
  const groups = new Map();
  for (const t of templates) {
    if (t.category === "measure") continue; // measures are sent to patients, not written
    if (!groups.has(t.category)) groups.set(t.category, []);
    groups.get(t.category).push(t);
  }
  const select = el(
    "select",
    { id: "template", name: "template_id", required: true, "aria-describedby": "template-error" },
    el("option", { value: "", text: "Choose a template…" }),
    ...[...groups].map(([kind, list]) =>
      el("optgroup", { label: KINDS[kind] || kind },
        ...list.sort((a, b) => a.title.localeCompare(b.title)).map((t) => el("option", { value: t.id, text: t.title }))),
    ),
  );
  const form = el(
    "form",
    { id: "new-note", novalidate: true },
    el("div", { class: "field", "data-field": "template_id" },
      el("label", { for: "template", text: "Template" }),
      el("p", { id: "template-error", class: "field-error", hidden: true }),
      select),
    el("button", { type: "submit", text: "Start note" }),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form);
    if (!select.value) {
      showFormError(form, { details: { fields: [{ path: "body.template_id", type: "choose" }] } }, { choose: "Choose a template." });
      return;
    }
    busy(event.submitter, async () => {
      const note = await call("POST", "/v1/notes", { patient_id: patientId, template_id: select.value, content: {} });
      navigate(`/notes/${note.id}`);
    });
  });
  view.append(
    el("p", { class: "crumbs" }, el("a", { href: `#/patients/${patientId}`, text: patientName(patient) })),
    heading(`New note for ${patientName(patient)}`),
    form,
  );
}

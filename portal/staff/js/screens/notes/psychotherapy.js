// Psychotherapy notes: the clinician's own process notes, kept apart from the record (45
// CFR 164.501). Listed only to their author and the colleagues the author granted; never
// in the chart, the PDF or a release of the record. Write one for a patient, read them,
// grant a colleague, and release one (a step-up) when the patient authorised it.

import { call } from "../../../../shared/api.js";
import { can } from "../../permissions.js";
import { current } from "../../session.js";
import { announce, busy, clearErrors, el, formatWhen, heading, showError, showFormError, table } from "../../ui.js";
import { patientName } from "../patients/search.js";

export async function render(view) {
  const [mine, people] = await Promise.all([
    call("GET", "/v1/psychotherapy-notes?limit=100"),
    can("scheduling.clinicians.read") ? call("GET", "/v1/clinicians") : { items: [] },
  ]);
  const names = new Map(people.items.map((c) => [c.id, c.display_name]));
  const patients = new Map();
  async function who(pid) {
    if (!patients.has(pid)) {
      try {
        patients.set(pid, patientName(await call("GET", `/v1/patients/${encodeURIComponent(pid)}`)));
      } catch {
        patients.set(pid, "Patient");
      }
    }
    return patients.get(pid);
  }
  const rows = [];
  for (const n of mine.items) {
    const text = el("details", {}, el("summary", { text: "Read" }), el("p", { class: "process-note", text: n.text }));
    const actions = el("div", { class: "actions tight" });
    if (n.author_id === current.me.id && can("psychotherapy_note.grant")) {
      const choices = people.items.filter((c) => c.id !== current.me.id);
      if (choices.length) {
        const id = `grant-${n.id}`;
        const select = el("select", { id }, ...choices.map((c) => el("option", { value: c.id, text: c.display_name })));
        const grant = el("button", { type: "button", class: "quiet small", text: "Let them read it" });
        grant.addEventListener("click", () => busy(grant, async () => {
          await call("POST", `/v1/psychotherapy-notes/${n.id}/grants`, { user_id: select.value });
          announce(`${select.selectedOptions[0].textContent} can now read this note.`);
        }));
        actions.append(el("label", { for: id, class: "visually-hidden", text: "Colleague" }), select, grant);
      }
    }
    if (n.author_id === current.me.id && can("psychotherapy_note.release")) actions.append(releaseControl(n, await who(n.patient_id)));
    rows.push([formatWhen(n.created_at, { dateStyle: "medium", timeStyle: "short" }), await who(n.patient_id), names.get(n.author_id) || (n.author_id === current.me.id ? "You" : "Colleague"), text, actions]);
  }
  const form = el("form", { id: "pn-form", novalidate: true, "aria-labelledby": "pn-new-title" },
    el("h2", { id: "pn-new-title", text: "Write a psychotherapy note" }),
    el("div", { class: "field", "data-field": "patient_id" },
      el("label", { for: "pn-patient", text: "Patient id" }),
      el("p", { id: "pn-patient-hint", class: "hint", text: "From the patient's chart (pat_…). Only patients on your care team." }),
      el("p", { id: "pn-patient-error", class: "field-error", hidden: true }),
      el("input", { id: "pn-patient", name: "patient_id", autocomplete: "off", maxlength: "40", "aria-describedby": "pn-patient-hint pn-patient-error" })),
    el("div", { class: "field", "data-field": "text" },
      el("label", { for: "pn-text", text: "Note" }),
      el("p", { id: "pn-text-error", class: "field-error", hidden: true }),
      el("textarea", { id: "pn-text", name: "text", rows: "6", maxlength: "50000", "aria-describedby": "pn-text-error" })),
    el("button", { type: "submit", text: "Save note" }));
  const fromChart = new URLSearchParams(location.hash.split("?")[1] || "").get("patient");
  if (fromChart && /^pat_[0-9a-z]{26}$/.test(fromChart)) form.elements.patient_id.value = fromChart;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form);
    busy(event.submitter, async () => {
      try {
        await call("POST", "/v1/psychotherapy-notes", { patient_id: form.elements.patient_id.value.trim(), text: form.elements.text.value });
      } catch (error) {
        if (error.status === 404) {
          showFormError(form, { details: { fields: [{ path: "body.patient_id", type: "not_yours" }] } }, { not_yours: "No patient on your care team has this id." });
          return;
        }
        showFormError(form, error, { string_pattern_mismatch: "Enter a patient id: pat_ then 26 letters and digits." });
        return;
      }
      view.replaceChildren();
      await render(view);
      announce("Psychotherapy note saved.");
      view.querySelector("h1").focus();
    });
  });
  view.append(
    heading("Psychotherapy notes"),
    el("p", { class: "notice", text: "Kept apart from the record: only you and the colleagues you grant can read them. They are not in the chart, its PDF or a release of the record." }),
    table("My psychotherapy notes and those shared with me", ["Written", "Patient", "Author", "Note", ""], rows, "No psychotherapy notes."),
    can("psychotherapy_note.create") ? form : el("span"),
  );
}

/** Release (disclose) one of my notes under the patient's authorization: the API asks for a
 * fresh second factor (step-up) and audits the release; the note downloads as a text file. */
function releaseControl(note, patient) {
  const written = formatWhen(note.created_at, { dateStyle: "medium", timeStyle: "short" });
  const open = el("button", { type: "button", class: "quiet small", text: "Release" }, el("span", { class: "visually-hidden", text: ` the note written ${written}` }));
  const checkId = `release-ok-${note.id}`;
  const confirmBox = el("div", { class: "confirm", hidden: true },
    el("div", { class: "check" },
      el("input", { type: "checkbox", id: checkId }),
      el("label", { for: checkId, text: "The patient's written authorization to release this psychotherapy note is on file" })),
    el("div", { class: "actions tight" },
      el("button", { type: "button", class: "small", text: "Release and download" }),
      el("button", { type: "button", class: "quiet small", text: "Do not release" })));
  const [go, keep] = confirmBox.querySelectorAll("button");
  open.addEventListener("click", () => {
    confirmBox.hidden = false;
    confirmBox.querySelector("input").focus();
  });
  keep.addEventListener("click", () => {
    confirmBox.hidden = true;
    open.focus();
  });
  go.addEventListener("click", () => busy(go, async () => {
    const box = confirmBox.querySelector("input");
    if (!box.checked) {
      showError("A psychotherapy note is released only with the patient's written authorization. Tick the box once it is on file.");
      box.focus();
      return;
    }
    const released = await call("POST", `/v1/psychotherapy-notes/${note.id}/release`);
    const day = released.created_at.slice(0, 10);
    const text = [
      "PSYCHOTHERAPY NOTE (45 CFR 164.501), released under the patient's authorization",
      `Patient: ${patient}`,
      `Written: ${written}`,
      `Released: ${formatWhen(new Date().toISOString(), { dateStyle: "medium", timeStyle: "short" })}`,
      "",
      released.text,
      "",
    ].join("\r\n");
    const name = `psychotherapy-note-${day}.txt`;
    const url = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
    const link = el("a", { href: url, download: name, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
    confirmBox.hidden = true;
    open.focus();
    announce(`Released: ${name} downloaded. The release is recorded in the audit trail.`);
  }));
  return el("div", {}, open, confirmBox);
}

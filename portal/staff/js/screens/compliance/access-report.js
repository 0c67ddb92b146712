// The access report for one patient: everyone at the practice who opened or changed the
// record, newest first (the same log the patient sees in the portal). Reading it is audited.

import { call } from "../../../../shared/api.js";
import { navigate } from "../../router.js";
import { busy, clearErrors, el, field, formatWhen, heading, roleName, showFormError, table } from "../../ui.js";

export async function render(view, { patientId }) {
  const form = el(
    "form",
    { id: "access-report-form", novalidate: true },
    field("Patient id", { name: "patient_id", autocomplete: "off", maxlength: "40", required: true, value: patientId || "" }, { hint: "From the patient's record or the audit trail (pat_…)." }),
    el("button", { type: "submit", text: "Show access report" }),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const id = form.elements.patient_id.value.trim();
    clearErrors(form);
    if (/^pat_[0-9a-z]{26}$/.test(id)) navigate(`/compliance/access-report/${id}`);
    else {
      showFormError(form, { details: { fields: [{ path: "body.patient_id", type: "patient_id" }] } }, {
        patient_id: "Enter a patient id: pat_ then 26 letters and digits.",
      });
    }
  });
  view.append(heading("Access report"), form);
  if (!patientId) return;
  const rows = [];
  let cursor = null;
  const box = el("section", { "aria-labelledby": "report-title" });
  const more = el("button", { type: "button", class: "quiet", text: "Show more" });
  async function page() {
    const q = new URLSearchParams({ limit: "50" });
    if (cursor) q.set("cursor", cursor);
    const data = await call("GET", `/v1/patients/${encodeURIComponent(patientId)}/access-log?${q}`);
    for (const e of data.items) {
      rows.push([
        formatWhen(e.time, { dateStyle: "medium", timeStyle: "short" }),
        e.staff_name,
        e.staff_roles.map(roleName).join(", "),
        e.emergency ? `${e.access} (emergency access)` : e.access,
      ]);
    }
    cursor = data.next_cursor;
    box.replaceChildren(
      el("h2", { id: "report-title", text: "Who opened this record" }),
      table("Access to this patient's record, newest first", ["When", "Who", "Role", "What"], rows, "No one has opened this record."),
    );
    more.hidden = !cursor;
  }
  more.addEventListener("click", () => busy(more, page));
  await page();
  view.append(box, more);
}

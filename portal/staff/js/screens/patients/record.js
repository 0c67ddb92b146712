// One patient's record: demographics and contact details (reading it is audited).

import { call } from "../../../../shared/api.js";
import { can } from "../../permissions.js";
import { el, heading } from "../../ui.js";
import { formatDob, patientName } from "./search.js";

function row(term, value) {
  if (value === null || value === undefined || value === "") return null;
  return [el("dt", { text: term }), el("dd", { text: String(value) })];
}

function address(a) {
  if (!a) return "";
  return [a.line1, a.line2, a.city, a.region, a.postal_code, a.country].filter(Boolean).join(", ");
}

export async function render(view, { patientId }) {
  const p = await call("GET", `/v1/patients/${encodeURIComponent(patientId)}`);
  const rows = [
    row("Preferred name", p.preferred_name),
    row("Pronouns", p.pronouns),
    row("Date of birth", formatDob(p.date_of_birth)),
    row("Email", p.email),
    row("Phone", p.phone),
    row("Address", address(p.address)),
    row("Time zone", p.timezone),
    row("Status", p.status),
    p.emergency_contact
      ? row(
          "Emergency contact",
          `${p.emergency_contact.name} (${p.emergency_contact.relationship}), ${p.emergency_contact.phone}`,
        )
      : null,
  ].filter(Boolean);
  view.append(
    el("p", { class: "crumbs" }, el("a", { href: "#/patients", text: "Patients" })),
    heading(patientName(p)),
    el("section", { class: "card", "aria-labelledby": "details-title" },
      el("h2", { id: "details-title", text: "Details" }),
      el("dl", { class: "facts" }, ...rows.flat()),
    ),
  );
  if (can("patient.access_log.read")) {
    view.append(
      el("p", {}, el("a", { href: `#/compliance/access-report/${p.id}`, text: "Who opened this record" })),
    );
  }
}

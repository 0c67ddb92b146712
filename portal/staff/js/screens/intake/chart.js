// The intake part of a patient's chart: their intakes (open one to review it) and, for
// roles that may, "Start an intake".

import { call } from "../../../../shared/api.js";
import { can } from "../../permissions.js";
import { el, formatWhen, table } from "../../ui.js";
import { statusCell } from "./queue.js";

export async function intakePart(patientId) {
  const data = await call("GET", `/v1/patients/${encodeURIComponent(patientId)}/intakes`);
  const open = data.items.some((i) => !["completed", "cancelled"].includes(i.status));
  const items = [...data.items].sort((a, b) => b.created_at.localeCompare(a.created_at));
  return [
    can("intake.start") && can("intake.template.read") && !open
      ? el("p", { class: "actions" }, el("a", { class: "button-link", href: `#/patients/${patientId}/intake/new`, text: "Start an intake" }))
      : null,
    table(
      "Intakes, latest first",
      ["Started", "Status", ""],
      items.map((i) => [
        formatWhen(i.created_at, { dateStyle: "medium", timeStyle: "short" }),
        statusCell(i),
        el("a", { href: `#/intake/${i.id}`, text: "Open" }, el("span", { class: "visually-hidden", text: " intake" })),
      ]),
      "No intake yet.",
    ),
  ];
}

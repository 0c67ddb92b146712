// The intake queue: open intakes the user may see (office roles: all; clinicians: their
// care team's; supervisors also their supervisees'), stalled ones first, then those
// waiting for review. Patients are shown by name (each read is audited by the API); the
// address carries ids only.

import { call } from "../../../../shared/api.js";
import { el, formatWhen, heading, table } from "../../ui.js";
import { patientName } from "../patients/search.js";
import { BADGE, STATUS, STEP } from "./words.js";

const WHEN = { dateStyle: "medium", timeStyle: "short" };

export async function patientLabel(cache, id) {
  if (!cache.has(id)) {
    try {
      cache.set(id, patientName(await call("GET", `/v1/patients/${encodeURIComponent(id)}`)));
    } catch {
      cache.set(id, "Patient");
    }
  }
  return cache.get(id);
}

export function statusCell(intake) {
  const text = STATUS[intake.status] || intake.status;
  const badge = BADGE[intake.status];
  return badge ? el("span", { class: `badge ${badge}`, text }) : text;
}

export async function render(view) {
  const names = new Map();
  const items = [];
  let cursor = null;
  const box = el("section", { "aria-labelledby": "intake-list-title" });
  const more = el("button", { type: "button", class: "quiet", text: "Show more" });

  async function page() {
    const q = new URLSearchParams({ limit: "50" });
    if (cursor) q.set("cursor", cursor);
    const data = await call("GET", `/v1/intakes?${q}`);
    items.push(...data.items);
    cursor = data.next_cursor || null;
    const rows = [];
    for (const i of items) {
      const name = await patientLabel(names, i.patient_id);
      rows.push([
        el("a", { href: `#/intake/${i.id}`, text: name }),
        statusCell(i),
        i.current_step ? STEP[i.current_step] || i.current_step : "—",
        i.stalled_at ? `Stalled ${formatWhen(i.stalled_at, WHEN)}` : formatWhen(i.updated_at, WHEN),
        String(i.reminders_sent),
      ]);
    }
    const stalled = items.filter((i) => i.status === "stalled").length;
    const review = items.filter((i) => i.status === "in_review").length;
    const parts = [
      el("h2", { id: "intake-list-title", text: `${items.length} open: ${stalled} stalled, ${review} waiting for review` }),
      table(
        "Open intakes, stalled first",
        ["Patient", "Status", "Step now", "Last change", "Reminders sent"],
        rows,
        "No open intakes. Start one from a patient's chart.",
      ),
    ];
    if (cursor) parts.push(more);
    box.replaceChildren(...parts);
  }
  more.addEventListener("click", async () => {
    more.disabled = true;
    await page();
    more.disabled = false;
  });
  await page();
  view.append(
    heading("Intake"),
    el("p", { class: "hint", text: "A stalled intake stopped after its reminders ran out: open it to resend the invitation, restart it or cancel it. Packets waiting for review are approved (or sent back) by the patient's clinician." }),
    box,
  );
}

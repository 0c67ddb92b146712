// Patients' rights requests (45 CFR 164.524/526/528): the compliance officer's queue of
// requests for access, amendment and an accounting of disclosures, open ones by due date
// with what is overdue; each opens its request. Reading the queue is audited.

import { call } from "../../../../shared/api.js";
import { busy, el, heading, table } from "../../ui.js";
import { KINDS, STATUS, day } from "./rights-words.js";

export async function render(view) {
  let openOnly = true;
  let cursor = null;
  const rows = [];
  const box = el("section", { "aria-labelledby": "rights-queue-title" });
  const more = el("button", { type: "button", class: "quiet", text: "Show more" });
  const toggle = el("button", { type: "button", class: "quiet" });

  function draw() {
    const caption = openOnly ? "Open requests, soonest due first" : "Every request, newest first";
    box.replaceChildren(
      el("h2", { id: "rights-queue-title", text: openOnly ? "Open requests" : "All requests" }),
      table(
        caption,
        ["Request", "Patient", "Received", "Due", "Status"],
        rows,
        openOnly ? "No open requests." : "No requests yet.",
      ),
    );
    toggle.textContent = openOnly ? "Show all requests" : "Show open requests only";
    more.hidden = !cursor;
  }

  async function page(first) {
    const q = new URLSearchParams({ limit: "50" });
    if (openOnly) q.set("status", "open");
    if (!first && cursor) q.set("cursor", cursor);
    const data = await call("GET", `/v1/rights-requests?${q}`);
    if (first) rows.length = 0;
    for (const r of data.items) {
      const due = r.overdue ? `${day(r.due_on)} (overdue)` : day(r.due_on);
      rows.push([
        el("a", { href: `#/compliance/rights/${r.patient_id}/${r.id}`, text: KINDS[r.kind] }),
        el("a", { href: `#/compliance/disclosures/${r.patient_id}`, text: r.patient_id }),
        day(r.received_on),
        r.status === "open" ? due : "—",
        STATUS[r.status] || r.status,
      ]);
    }
    cursor = data.next_cursor;
    draw();
  }

  toggle.addEventListener("click", () =>
    busy(toggle, async () => {
      openOnly = !openOnly;
      cursor = null;
      await page(true);
    }),
  );
  more.addEventListener("click", () => busy(more, () => page(false)));
  view.append(
    heading("Patients' rights requests"),
    el("p", {
      class: "hint",
      text: "Deadlines: a copy of the record 30 days, an amendment or an accounting 60 days; one 30-day extension with a reason given to the patient.",
    }),
    toggle,
  );
  await page(true);
  view.append(box, more);
}

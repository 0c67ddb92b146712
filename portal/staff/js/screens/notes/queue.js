// The supervision queue: supervisees' signed notes waiting for my co-signature.

import { call } from "../../../../shared/api.js";
import { el, formatWhen, heading, table } from "../../ui.js";
import { staffNames } from "../clinical/flag-ack.js";

export async function render(view) {
  const [data, names] = await Promise.all([call("GET", "/v1/supervision/queue?limit=100"), staffNames()]);
  view.append(
    heading("Supervision"),
    el("p", { class: "hint", text: "Notes your supervisees signed, waiting for your co-signature. Open one to co-sign it or return it with comments." }),
    table(
      "Notes waiting for your co-signature, oldest first",
      ["Date of service", "Clinician", "Signed", ""],
      data.items.map((n) => [
        n.service_date || "—",
        names.get(n.clinician_id) || "Supervisee",
        n.signed_at ? formatWhen(n.signed_at, { dateStyle: "medium", timeStyle: "short" }) : "",
        el("a", { href: `#/notes/${n.id}`, text: "Review note" }, el("span", { class: "visually-hidden", text: ` of ${n.service_date || "unknown date"}` })),
      ]),
      "Nothing waiting. Notes appear here when a supervisee signs one.",
    ),
  );
}

// Write-offs and refunds above the practice's threshold wait here for a second person.
// Nobody approves their own request: the app shows "your request" instead of the buttons,
// and the API refuses it anyway (403 own_approval). Approving posts the ledger entry with
// both names on it; rejecting posts nothing.

import { call } from "../../../../shared/api.js";
import { announce, busy, el, formatWhen, heading, table } from "../../ui.js";
import { current } from "../../session.js";
import { staffNames } from "../clinical/flag-ack.js";
import { money, patientLabel } from "./common.js";

export async function render(view) {
  const names = await staffNames();
  const box = el("section", { id: "approvals", "aria-labelledby": "approvals-title" });
  const myId = current.me ? current.me.id : null;

  async function draw(message) {
    const data = await call("GET", "/v1/adjustment-requests?limit=100");
    const rows = [];
    for (const r of data.items) {
      const label = await patientLabel(r.patient_id);
      const decide = el("div", { class: "actions tight" });
      if (r.requested_by === myId) {
        decide.append(el("span", { class: "hint", text: "Your request: someone else approves it" }));
      } else {
        for (const [approve, text] of [[true, "Approve"], [false, "Reject"]]) {
          const b = el("button", { type: "button", class: approve ? "small" : "quiet small", text }, el("span", { class: "visually-hidden", text: ` ${r.kind === "refund" ? "refund" : "write-off"} of ${money(r.amount)} for ${label}` }));
          b.addEventListener("click", () =>
            busy(b, async () => {
              try {
                await call("POST", `/v1/adjustment-requests/${encodeURIComponent(r.id)}/decision`, { approve });
              } catch (error) {
                if (error.status === 409) {
                  await draw("Someone decided this request meanwhile. The list is up to date.");
                  return;
                }
                throw error;
              }
              await draw(approve ? `Approved: the ${r.kind === "refund" ? "refund" : "write-off"} is on ${label}'s ledger.` : "Rejected: nothing was posted.");
            }),
          );
          decide.append(b);
        }
      }
      rows.push([
        formatWhen(r.requested_at, { dateStyle: "medium", timeStyle: "short" }),
        el("a", { href: `#/billing/patients/${r.patient_id}`, text: label }),
        r.kind === "refund" ? "Refund" : "Write-off",
        money(r.amount),
        r.reason,
        r.requested_by === myId ? "You" : names.get(r.requested_by) || "A colleague",
        decide,
      ]);
    }
    const title = el("h2", { id: "approvals-title", tabindex: "-1", text: `${data.items.length} waiting` });
    box.replaceChildren(
      title,
      table("Write-offs and refunds waiting for approval, oldest first", ["Asked", "Patient", "Kind", "Amount", "Reason", "Asked by", "Decision"], rows, "Nothing waiting for approval."),
    );
    if (message) {
      announce(message);
      title.focus();
    }
  }
  await draw();
  view.append(
    heading("Approvals"),
    el("p", { class: "hint", text: "Write-offs and refunds above the practice's threshold need a second person. Check the reason and the patient's ledger before approving." }),
    box,
  );
}

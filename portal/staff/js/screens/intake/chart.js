// The intake part of a patient's chart: their intakes (open one to review it) and, for
// roles that may, "Start an intake".

import { call } from "../../../../shared/api.js";
import { can } from "../../permissions.js";
import { announce, busy, el, formatWhen, table } from "../../ui.js";
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

const EFFECTS = {
  sms_reminders_stopped: "SMS reminders stopped",
  telehealth_needs_new_consent: "Telehealth needs a new consent",
  no_further_disclosure: "No further disclosure",
  no_further_disclosure_part2: "No further disclosure (42 CFR Part 2)",
};

/** The patient's signed consents (their PDFs are in Documents), and revoking one at the
 * patient's request (the API records who and when, and applies its effect at once). */
export async function consentsPart(patientId, box) {
  const data = await call("GET", `/v1/patients/${encodeURIComponent(patientId)}/consents`);
  const redraw = async (message) => {
    const parts = await consentsPart(patientId, box);
    box.replaceChildren(box.querySelector("h2"), ...parts);
    announce(message);
    box.querySelector("h2").setAttribute("tabindex", "-1");
    box.querySelector("h2").focus();
  };
  const rows = data.items.map((c) => {
    let status = "Signed";
    let action = "";
    if (c.status === "revoked") {
      status = `Revoked ${formatWhen(c.revoked_at, { dateStyle: "medium" })}${c.revocation_effect ? `: ${EFFECTS[c.revocation_effect] || c.revocation_effect}` : ""}`;
    } else if (c.revocable && can("consent.revoke")) {
      const ask = el("button", { type: "button", class: "quiet small", text: "Revoke" }, el("span", { class: "visually-hidden", text: ` ${c.title}` }));
      const yes = el("button", { type: "button", class: "small", text: "Yes, revoke it" }, el("span", { class: "visually-hidden", text: ` ${c.title}` }));
      const confirm = el("div", { hidden: true }, el("p", { class: "hint", text: "Only at the patient's request. It takes effect at once." }), yes);
      ask.addEventListener("click", () => {
        confirm.hidden = false;
        ask.hidden = true;
        yes.focus();
      });
      yes.addEventListener("click", () => busy(yes, async () => {
        await call("POST", `/v1/consents/${c.id}/revoke`);
        await redraw(`Revoked ${c.title}.`);
      }));
      action = el("div", {}, ask, confirm);
    }
    return [c.title, formatWhen(c.signed_at, { dateStyle: "medium", timeStyle: "short" }), status, action];
  });
  return [
    table("Consents, newest first", ["Consent", "Signed", "Status", ""], rows, "No consents signed yet."),
    el("p", { class: "hint", text: "The signed copies are in Documents." }),
  ];
}

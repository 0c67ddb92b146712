// The patient's proxies in the chart: guardians and other personal representatives who use
// the portal for the patient. Invite (relationship, documented basis, scope, last day),
// change the scope or end date, revoke at once; and the clinician's restriction (proxies
// get scheduling and billing only). Every call is authorised and audited by the API.

import { call } from "../../../../shared/api.js";
import { can } from "../../permissions.js";
import { addMessages, announce, busy, clearErrors, el, field, formatWhen, showFormError, table } from "../../ui.js";

addMessages({
  not_a_proxy_account: "That address belongs to a staff or patient account. A proxy needs an address of their own.",
  already_exists: "This person is already a proxy for the patient.",
});

const RELATIONSHIPS = [
  ["parent_of_minor", "Parent of a minor"],
  ["legal_guardian", "Legal guardian"],
  ["healthcare_poa", "Healthcare power of attorney"],
];
const SCOPES = [
  ["messaging", "Messages with the care team"],
  ["appointments", "Appointments (view)"],
  ["billing", "Billing"],
];
const STATUS = {
  active: "Active",
  revoked: "Revoked",
  expired: "Ended (past the last day)",
  reached_majority: "Ended (the patient came of age)",
};
const WORDS = {
  patient_not_a_minor: "The patient is of age: choose legal guardian or power of attorney, with its basis.",
  in_past: "The last day has already passed.",
};

const label = (pairs, value) => (pairs.find(([v]) => v === value) || [value, value])[1];

function inviteForm(patientId, redraw) {
  const scopes = el("fieldset", { class: "field", "data-field": "scopes" },
    el("legend", { text: "What they may do" }),
    el("p", { id: "proxy-scopes-error", class: "field-error", hidden: true }),
    ...SCOPES.map(([value, text]) => el("label", { class: "check" },
      el("input", { type: "checkbox", name: "scopes", value, checked: value !== "billing" }), ` ${text}`)));
  const form = el("form", { id: "proxy-invite", novalidate: true },
    field("Their name", { name: "display_name", id: "proxy-name", maxlength: "120", required: true }),
    field("Their email (their own sign-in)", { name: "email", id: "proxy-email", type: "email", required: true }),
    field("Relationship", { name: "relationship", id: "proxy-relationship" }, { tag: "select", options: RELATIONSHIPS }),
    field("Documented basis", { name: "basis", id: "proxy-basis", rows: "2", maxlength: "1000", required: true }, {
      tag: "textarea",
      hint: "What you saw or filed: a birth certificate, a court order, the power of attorney document.",
    }),
    scopes,
    field("Last day of access (optional)", { name: "ends_on", id: "proxy-ends", type: "date" }, {
      hint: "A parent's access also ends by itself when the patient comes of age.",
    }),
    el("button", { type: "submit", text: "Invite proxy" }));
  const out = el("div", { id: "proxy-invitation", "aria-live": "polite" });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form);
    const f = form.elements;
    const body = {
      display_name: f.display_name.value.trim(),
      email: f.email.value.trim(),
      relationship: f.relationship.value,
      basis: f.basis.value.trim(),
      scopes: [...form.querySelectorAll("input[name=scopes]:checked")].map((c) => c.value),
    };
    if (f.ends_on.value) body.ends_on = f.ends_on.value;
    busy(event.submitter, async () => {
      let r;
      try {
        r = await call("POST", `/v1/patients/${encodeURIComponent(patientId)}/proxies`, body);
      } catch (error) {
        showFormError(form, error, WORDS);
        return;
      }
      await redraw(`Invited ${r.proxy.proxy_name} as a proxy.`);
      // The part was drawn again: the code goes into the new one.
      const target = document.getElementById("proxy-invitation") || out;
      target.replaceChildren(r.invitation_token
        ? el("div", {},
            el("p", { text: "Give the proxy this one-time code, privately (in AWS it is emailed). They choose a password with it on the portal's sign-in page:" }),
            el("p", {}, el("code", { class: "secret", id: "proxy-code", text: r.invitation_token })))
        : el("p", { text: "They already have a portal account: the patient appears in their list at their next sign-in." }));
    });
  });
  return [form, out];
}

function actions(patientId, g, redraw) {
  if (g.status !== "active") return "";
  const cells = [];
  if (can("patient.proxy.update")) {
    const end = el("input", { type: "date", id: `end-${g.id}`, value: g.ends_on || "" });
    const save = el("button", { type: "button", class: "quiet small", text: "Set last day" });
    save.addEventListener("click", () => busy(save, async () => {
      await call("PATCH", `/v1/patients/${encodeURIComponent(patientId)}/proxies/${g.id}`, {
        version: g.version,
        ends_on: end.value || null,
      });
      await redraw(`Changed ${g.proxy_name}'s last day.`);
    }));
    cells.push(el("label", { for: end.id, class: "visually-hidden", text: `Last day for ${g.proxy_name}` }), end, save);
  }
  if (can("patient.proxy.revoke")) {
    const revoke = el("button", { type: "button", class: "danger small", text: "Revoke" }, el("span", { class: "visually-hidden", text: ` ${g.proxy_name}` }));
    revoke.addEventListener("click", () => busy(revoke, async () => {
      await call("POST", `/v1/patients/${encodeURIComponent(patientId)}/proxies/${g.id}/revoke`);
      await redraw(`Revoked ${g.proxy_name}'s access. It ended at once.`);
    }));
    cells.push(revoke);
  }
  return el("span", { class: "inline" }, ...cells);
}

function restriction(patientId, restricted, redraw) {
  const box = el("input", { type: "checkbox", id: "proxy-restricted", checked: restricted });
  box.addEventListener("change", () => busy(box, async () => {
    await call("PUT", `/v1/patients/${encodeURIComponent(patientId)}/proxy-restriction`, { restricted: box.checked });
    await redraw(box.checked ? "Proxies now get scheduling and billing only." : "Proxies get what their grants allow.");
  }));
  return el("p", { class: "check" }, box, el("label", { for: "proxy-restricted", text: " Restrict proxies to scheduling and billing (confidential care: they lose messaging)" }));
}

export async function proxiesPart(patientId, box) {
  const redraw = async (message) => {
    const parts = await proxiesPart(patientId, box);
    box.replaceChildren(box.querySelector("h2"), ...parts.filter(Boolean));
    if (message) announce(message);
  };
  const data = await call("GET", `/v1/patients/${encodeURIComponent(patientId)}/proxies`);
  const rows = data.items.map((g) => [
    `${g.proxy_name} (${g.proxy_email})`,
    label(RELATIONSHIPS, g.relationship),
    g.scopes.map((s) => label(SCOPES, s)).join(", "),
    g.access_ends_at ? formatWhen(g.access_ends_at, { dateStyle: "medium" }) : "No end date",
    STATUS[g.status] || g.status,
    actions(patientId, g, redraw),
  ]);
  return [
    data.restricted ? el("p", { class: "hint", text: "Proxies are restricted to scheduling and billing for this patient." }) : null,
    table("Proxies for this patient", ["Proxy", "Relationship", "May", "Access ends", "Status", ""], rows, "No proxies."),
    can("patient.proxy.restrict") ? restriction(patientId, data.restricted, redraw) : null,
    ...(can("patient.proxy.invite") ? inviteForm(patientId, redraw) : []),
  ];
}

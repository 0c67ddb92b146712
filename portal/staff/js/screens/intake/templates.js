// Intake templates (owner, admin): which forms, consents and steps the practice's intake
// has. Saving an existing template makes its next version; a running intake keeps the
// version it started with. The optional 42 CFR Part 2 consent needs every element 42 CFR
// 2.31 asks of the practice (docs/intake.md).

import { call } from "../../../../shared/api.js";
import { can } from "../../permissions.js";
import { navigate } from "../../router.js";
import { announce, busy, clearErrors, el, field, formatWhen, heading, showFormError, table } from "../../ui.js";
import { STEP } from "./words.js";

const FORM_CATEGORIES = new Set(["form", "measure", "assessment"]);
const RECIPIENTS = [
  ["payer", "Health plans and payers"],
  ["provider", "Treating providers"],
  ["organization", "An organisation"],
  ["individual", "A person"],
];
const PURPOSES = [
  ["payment", "Payment"],
  ["treatment", "Treatment"],
  ["health_care_operations", "Health care operations"],
  ["other", "Other"],
];

let flash = ""; // what the list announces after a save (the router clears the status)

export async function render(view, params) {
  if (params.templateId) return edit(view, params.templateId);
  if (location.hash.endsWith("/new")) return edit(view, null);
  const data = await call("GET", "/v1/intake-templates");
  view.append(
    el("p", { class: "crumbs" }, el("a", { href: "#/intake", text: "Intake" })),
    heading("Intake templates"),
    el("p", { class: "hint", text: "What a new patient is asked for: forms, consents, the insurance card, review and the first visit. Changing a template makes a new version; intakes already running keep theirs." }),
    can("intake.template.manage") ? el("p", { class: "actions" }, el("a", { class: "button-link", href: "#/intake/templates/new", text: "New intake template" })) : null,
    table(
      "The practice's intake templates",
      ["Name", "Version", "Steps", "Saved"],
      data.items.map((t) => [
        can("intake.template.manage") ? el("a", { href: `#/intake/templates/${t.id}`, text: t.name }) : t.name,
        String(t.version),
        t.steps.map((s) => STEP[s] || s).join(", "),
        formatWhen(t.created_at, { dateStyle: "medium", timeStyle: "short" }),
      ]),
      "No intake templates yet.",
    ),
  );
  if (flash) {
    announce(flash);
    flash = "";
  }
  return undefined;
}

function checkList(legend, name, options, chosen, hint = "") {
  return el(
    "fieldset",
    { class: "group", "data-field": name },
    el("legend", { text: legend }),
    hint ? el("p", { class: "hint", text: hint }) : null,
    el("p", { class: "field-error", hidden: true }),
    ...options.map(([value, text]) => {
      const id = `${name}-${value}`;
      return el("div", { class: "check" }, el("input", { type: "checkbox", id, name, value, checked: chosen.has(value) }), el("label", { for: id, text }));
    }),
  );
}

function checkbox(name, text, checked) {
  return el("div", { class: "check", "data-field": name }, el("input", { type: "checkbox", id: `tpl-${name}`, name, checked }), el("label", { for: `tpl-${name}`, text }));
}

function values(form, name) {
  return [...form.querySelectorAll(`input[name="${name}"]:checked`)].map((i) => i.value);
}

async function edit(view, templateId) {
  const [library, services, current] = await Promise.all([
    call("GET", "/v1/templates"),
    call("GET", "/v1/services"),
    templateId ? call("GET", `/v1/intake-templates/${encodeURIComponent(templateId)}`) : Promise.resolve(null),
  ]);
  const t = current || { version: 0, name: "", forms: [], consents: [], part2: null, insurance_card: true, review: true, appointment: true, first_visit_service_id: null, remind_after_hours: 72, reminders_before_stall: 2 };
  const forms = library.filter((x) => FORM_CATEGORIES.has(x.category)).map((x) => [x.id, x.title]);
  const consents = library.filter((x) => x.category === "consent").map((x) => [x.id, x.title]);
  const p2 = t.part2 || { applies_to: "part2_patients", disclosing_program: "", information: "", recipients: [{ kind: "payer", name: "My health plans and third-party payers" }], purposes: ["payment"], purpose_description: "", expires_after_days: 365, expiration_event: "" };
  const part2Box = el(
    "fieldset",
    { class: "group", "data-field": "part2", hidden: !t.part2 },
    el("legend", { text: "42 CFR Part 2 consent" }),
    el("p", { class: "field-error", hidden: true }),
    el("p", { class: "hint", text: "Every element 42 CFR 2.31 requires. The patient's name and the date come from the signing; the revocation, redisclosure and not-conditioned statements are always shown." }),
    field("Asked of", { name: "part2.applies_to" }, { tag: "select", options: [["part2_patients", "Patients whose record is labelled Part 2"], ["everyone", "Everyone the intake invites"]] }),
    field("Who may disclose (the program)", { name: "part2.disclosing_program", value: p2.disclosing_program, maxlength: "200" }),
    field("What may be disclosed", { name: "part2.information", maxlength: "2000", rows: "2" }, { tag: "textarea", hint: "How much and what kind, naming the substance use disorder information." }),
    field("To whom", { name: "part2.recipients.0.name", value: p2.recipients[0].name, maxlength: "200" }, { hint: "A name, or a general designation such as “my health plans and third-party payers”." }),
    field("Kind of recipient", { name: "part2.recipients.0.kind" }, { tag: "select", options: RECIPIENTS }),
    checkList("For what purposes", "part2.purposes", PURPOSES, new Set(p2.purposes)),
    field("The purpose, in words", { name: "part2.purpose_description", value: p2.purpose_description, maxlength: "2000" }),
    field("Ends after (days from signing)", { name: "part2.expires_after_days", type: "number", min: "1", max: "3650", value: p2.expires_after_days ?? "" }, { hint: "Or name an event below (or both)." }),
    field("Or ends on this event", { name: "part2.expiration_event", value: p2.expiration_event, maxlength: "500" }),
  );
  part2Box.querySelector('[name="part2.applies_to"]').value = p2.applies_to;
  part2Box.querySelector('[name="part2.information"]').value = p2.information;
  part2Box.querySelector('[name="part2.recipients.0.kind"]').value = p2.recipients[0].kind;
  const part2On = checkbox("part2_on", "Ask for a 42 CFR Part 2 consent (substance use disorder records)", Boolean(t.part2));
  part2On.querySelector("input").addEventListener("change", (e) => (part2Box.hidden = !e.currentTarget.checked));
  const form = el(
    "form",
    { id: "intake-template-form", novalidate: true },
    field("Name", { name: "name", value: t.name, maxlength: "120", required: true }),
    checkList("Forms", "forms", forms, new Set(t.forms.map((f) => f.template_id)), "Filled in by the patient in the portal, in this order."),
    checkList("Consents", "consents", consents, new Set(t.consents.map((c) => c.template_id)), "Signed electronically, each with its evidence and a signed PDF."),
    part2On,
    part2Box,
    el("fieldset", { class: "group" }, el("legend", { text: "Steps" }),
      checkbox("insurance_card", "Ask for both sides of the insurance card", t.insurance_card),
      checkbox("review", "A clinician reviews the packet", t.review),
      checkbox("appointment", "The patient books the first visit", t.appointment)),
    field("First visit service", { name: "first_visit_service_id" }, { tag: "select", options: [["", "None: the practice books it"], ...services.items.map((s) => [s.id, s.name])] }),
    field("Remind the patient after (hours)", { name: "remind_after_hours", type: "number", min: "1", max: "720", value: t.remind_after_hours }),
    field("Reminders before it stalls", { name: "reminders_before_stall", type: "number", min: "0", max: "10", value: t.reminders_before_stall }, { hint: "Then the intake goes to the staff queue." }),
    el("div", { class: "actions" }, el("button", { type: "submit", text: templateId ? "Save a new version" : "Create the template" }), el("a", { href: "#/intake/templates", text: "Back to the templates" })),
  );
  form.querySelector("[name=first_visit_service_id]").value = t.first_visit_service_id || "";
  const key = (id) => id.replace(/[^a-z0-9_]/g, "_").slice(0, 40);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form);
    const f = form.elements;
    const p = (name) => f.namedItem(`part2.${name}`);
    const body = {
      version: t.version,
      name: f.name.value.trim(),
      forms: values(form, "forms").map((id) => ({ key: key(id), template_id: id })),
      consents: values(form, "consents").map((id) => ({ key: key(id), template_id: id })),
      insurance_card: f.insurance_card.checked,
      review: f.review.checked,
      appointment: f.appointment.checked,
      first_visit_service_id: f.first_visit_service_id.value || null,
      remind_after_hours: Number(f.remind_after_hours.value),
      reminders_before_stall: Number(f.reminders_before_stall.value),
    };
    if (f.part2_on.checked) {
      body.part2 = {
        applies_to: p("applies_to").value,
        disclosing_program: p("disclosing_program").value.trim(),
        information: p("information").value.trim(),
        recipients: [{ kind: p("recipients.0.kind").value, name: p("recipients.0.name").value.trim() }],
        purposes: values(form, "part2.purposes"),
        purpose_description: p("purpose_description").value.trim(),
        expires_after_days: p("expires_after_days").value ? Number(p("expires_after_days").value) : null,
        expiration_event: p("expiration_event").value.trim(),
      };
    }
    const button = form.querySelector("button[type=submit]");
    busy(button, async () => {
      try {
        const path = templateId ? `/v1/intake-templates/${encodeURIComponent(templateId)}/versions` : "/v1/intake-templates";
        const saved = await call("POST", path, body);
        flash = `Saved ${saved.name}, version ${saved.version}.`;
        navigate("/intake/templates");
      } catch (error) {
        if (error && error.code === "validation_failed") {
          showFormError(form, error, { consent_elements_missing: "A Part 2 consent needs every element: the program, what, to whom, why and when it ends." });
          return;
        }
        throw error;
      }
    });
  });
  view.append(
    el("p", { class: "crumbs" }, el("a", { href: "#/intake/templates", text: "Intake templates" })),
    heading(templateId ? `Edit ${t.name} (version ${t.version})` : "New intake template"),
    form,
  );
  return undefined;
}

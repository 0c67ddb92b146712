// Billing set-up: the practice's settings (which identity bills, who we are to the
// clearinghouse, the approval threshold for write-offs and refunds), billing identities
// (NPI with its check digit, EIN, NUCC taxonomy, ZIP+4 service address), payers (payer id,
// claim filing indicator, telehealth rules default to the commercial ones) and fee
// schedules. Everything is validated by the API; its messages show next to each field.

import { call } from "../../../../shared/api.js";
import { can } from "../../permissions.js";
import { announce, busy, clearErrors, el, field, heading, showFormError, table } from "../../ui.js";
import { money } from "./common.js";

const WORDS = {
  value_error: "This is not valid (check digit, code list or format).",
  string_pattern_mismatch: "This is not in the right format.",
};

function section(id, title, ...children) {
  return el("section", { class: "note-section", id, "aria-labelledby": `${id}-title` }, el("h2", { id: `${id}-title`, tabindex: "-1", text: title }), ...children);
}

function value(form, name) {
  const v = form.elements[name].value.trim();
  return v === "" ? undefined : v;
}

function submitter(form, action) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form);
    busy(event.submitter, async () => {
      try {
        await action();
      } catch (error) {
        if (error.status === 422 || error.status === 409) {
          showFormError(form, error, WORDS);
          return;
        }
        throw error;
      }
    });
  });
}

export async function render(view) {
  const manage = can("billing.setup.manage");
  const parts = {
    settings: el("div", { id: "setup-settings" }),
    identities: el("div", { id: "setup-identities" }),
    payers: el("div", { id: "setup-payers" }),
    fees: el("div", { id: "setup-fees" }),
  };
  async function draw(message, focus) {
    const [settings, identities, payers, fees] = await Promise.all([
      call("GET", "/v1/billing/settings"),
      call("GET", "/v1/billing/identities"),
      call("GET", "/v1/billing/payers"),
      call("GET", "/v1/billing/fee-schedules"),
    ]);
    const payerName = new Map(payers.map((p) => [p.id, p.name]));
    parts.settings.replaceChildren(manage ? settingsForm(settings, identities, draw) : el("p", { text: `Approval threshold: ${money(settings.approval_threshold)}` }));
    parts.identities.replaceChildren(
      table(
        "Billing identities",
        ["Name", "Kind", "NPI", "Taxonomy", "EIN", "Address"],
        identities.map((i) => [
          [i.first_name, i.name].filter(Boolean).join(" "),
          i.kind === "person" ? "Person (rendering)" : "Organisation (billing)",
          i.npi,
          i.taxonomy,
          i.ein || "",
          i.address ? `${i.address.line1}, ${i.address.city}, ${i.address.state} ${i.address.postal_code}` : "",
        ]),
        "No billing identities yet.",
      ),
      manage ? identityForm(draw) : "",
    );
    parts.payers.replaceChildren(
      table(
        "Payers",
        ["Name", "Payer id", "Filing indicator", "Telehealth (mode, location → POS, modifiers)", "Paper"],
        payers.map((p) => [
          p.name,
          p.payer_id,
          p.filing_indicator,
          p.telehealth.map((r) => `${r.mode.replace("_", "-")} at ${r.location} → ${r.place_of_service}${r.modifiers.length ? ` ${r.modifiers.join(",")}` : ""}`).join("; "),
          p.paper ? "CMS-1500" : "837P",
        ]),
        "No payers yet.",
      ),
      manage ? payerForm(draw) : "",
    );
    parts.fees.replaceChildren(
      table(
        "Fee schedules",
        ["Name", "For", "Fees"],
        fees.map((f) => [f.name, f.payer_id ? payerName.get(f.payer_id) || "a payer" : "Practice default", Object.entries(f.fees).map(([code, fee]) => `${code} ${money(fee)}`).join(", ")]),
        "No fee schedules yet.",
      ),
      manage ? feeForm(payers, draw) : "",
    );
    if (message) {
      announce(message);
      if (focus) document.getElementById(`${focus}-title`).focus();
    }
  }
  await draw();
  view.append(
    heading("Billing set-up"),
    section("settings", "Settings", parts.settings),
    section("identities", "Billing identities", parts.identities),
    section("payers", "Payers", parts.payers),
    section("fees", "Fee schedules", parts.fees),
  );
}

function settingsForm(s, identities, redraw) {
  const orgs = identities.filter((i) => i.kind === "organisation");
  const form = el(
    "form",
    { id: "settings-form", novalidate: true },
    field("Billing identity", { name: "billing_identity_id" }, { tag: "select", options: [["", "Choose…"], ...orgs.map((i) => [i.id, `${i.name} (NPI ${i.npi})`])] }),
    el(
      "div",
      { class: "row" },
      field("Submitter id", { name: "submitter_id", value: s.submitter_id, autocomplete: "off" }, { hint: "From the clearinghouse (ISA06, 1000A)." }),
      field("Receiver id", { name: "receiver_id", value: s.receiver_id, autocomplete: "off" }),
      field("Receiver name", { name: "receiver_name", value: s.receiver_name, autocomplete: "off" }),
    ),
    el(
      "div",
      { class: "row" },
      field("Billing contact", { name: "contact_name", value: s.contact_name, autocomplete: "off" }),
      field("Contact phone (10 digits)", { name: "contact_phone", value: s.contact_phone, inputmode: "numeric", autocomplete: "off" }),
      field("Office place of service", { name: "office_place_of_service", value: s.office_place_of_service, class: "short" }),
    ),
    el(
      "div",
      { class: "row" },
      field("Approval threshold ($)", { name: "approval_threshold", value: s.approval_threshold, inputmode: "decimal", class: "short" }, { hint: "Write-offs and refunds above it need a second person." }),
      field("Files are", { name: "usage" }, { tag: "select", options: [["T", "Test (T)"], ["P", "Production (P)"]] }),
    ),
    el("div", { class: "actions" }, el("button", { type: "submit", text: "Save settings" })),
  );
  form.elements.billing_identity_id.value = s.billing_identity_id || "";
  form.elements.usage.value = s.usage;
  submitter(form, async () => {
    const body = { version: s.version };
    for (const name of ["billing_identity_id", "submitter_id", "receiver_id", "receiver_name", "contact_name", "contact_phone", "office_place_of_service", "approval_threshold", "usage"]) {
      const v = value(form, name);
      if (v !== undefined) body[name] = v;
    }
    await call("PUT", "/v1/billing/settings", body);
    await redraw("Settings saved.", "settings");
  });
  return form;
}

function identityForm(redraw) {
  const form = el(
    "form",
    { id: "identity-form", novalidate: true, "aria-labelledby": "identity-form-title" },
    el("h3", { id: "identity-form-title", text: "Add a billing identity" }),
    field("Kind", { name: "kind" }, { tag: "select", options: [["organisation", "Organisation (Type 2 NPI: bills)"], ["person", "Person (Type 1 NPI: renders)"]] }),
    el(
      "div",
      { class: "row" },
      field("Name (organisation, or last name)", { name: "name", autocomplete: "off" }),
      field("First name (person)", { name: "first_name", autocomplete: "off" }),
    ),
    el(
      "div",
      { class: "row" },
      field("NPI", { name: "npi", inputmode: "numeric", autocomplete: "off", class: "short" }, { hint: "10 digits; the check digit is verified." }),
      field("EIN", { name: "ein", autocomplete: "off", class: "short" }),
      field("Taxonomy (NUCC)", { name: "taxonomy", autocomplete: "off", class: "short" }, { hint: "For example 1041C0700X (LCSW), 261QM0801X (clinic)." }),
    ),
    el(
      "div",
      { class: "row" },
      field("Street", { name: "address.line1", autocomplete: "off" }),
      field("City", { name: "address.city", autocomplete: "off" }),
      field("State", { name: "address.state", autocomplete: "off", class: "short" }),
      field("ZIP+4", { name: "address.postal_code", autocomplete: "off", class: "short" }, { hint: "Organisations: the service address with ZIP+4, no PO box." }),
    ),
    el("div", { class: "actions" }, el("button", { type: "submit", text: "Add identity" })),
  );
  submitter(form, async () => {
    const body = {};
    for (const name of ["kind", "name", "first_name", "npi", "ein", "taxonomy"]) {
      const v = value(form, name);
      if (v !== undefined) body[name] = v;
    }
    const address = {};
    for (const part of ["line1", "city", "state", "postal_code"]) {
      const v = value(form, `address.${part}`);
      if (v !== undefined) address[part] = v;
    }
    if (Object.keys(address).length) body.address = address;
    await call("POST", "/v1/billing/identities", body);
    await redraw("Billing identity added.", "identities");
  });
  return form;
}

function payerForm(redraw) {
  const form = el(
    "form",
    { id: "payer-form", novalidate: true, "aria-labelledby": "payer-form-title" },
    el("h3", { id: "payer-form-title", text: "Add a payer" }),
    el(
      "div",
      { class: "row" },
      field("Name", { name: "name", autocomplete: "off" }),
      field("Payer id", { name: "payer_id", autocomplete: "off", class: "short" }, { hint: "The clearinghouse's id for this payer." }),
      field("Claim filing indicator", { name: "filing_indicator", autocomplete: "off", class: "short" }, { hint: "CI commercial, MB Medicare B, MC Medicaid, BL Blue Cross, HM HMO." }),
    ),
    el("p", { class: "hint", text: "Telehealth rules start as the commercial default (video 95, audio-only 93; POS 10 at home, 02 elsewhere)." }),
    el("div", { class: "actions" }, el("button", { type: "submit", text: "Add payer" })),
  );
  submitter(form, async () => {
    await call("POST", "/v1/billing/payers", { name: value(form, "name"), payer_id: value(form, "payer_id"), filing_indicator: value(form, "filing_indicator") });
    await redraw("Payer added.", "payers");
  });
  return form;
}

function feeForm(payers, redraw) {
  const form = el(
    "form",
    { id: "fee-form", novalidate: true, "aria-labelledby": "fee-form-title" },
    el("h3", { id: "fee-form-title", text: "Add a fee schedule" }),
    el(
      "div",
      { class: "row" },
      field("Name", { name: "name", autocomplete: "off" }),
      field("For", { name: "payer_id" }, { tag: "select", options: [["", "Practice default"], ...payers.map((p) => [p.id, p.name])] }),
    ),
    field("Fees", { name: "fees", rows: "4", autocomplete: "off", spellcheck: "false" }, { tag: "textarea", hint: "One code and fee per line, for example: 90837 200.00" }),
    el("div", { class: "actions" }, el("button", { type: "submit", text: "Add fee schedule" })),
  );
  submitter(form, async () => {
    const fees = {};
    for (const line of form.elements.fees.value.split("\n")) {
      const [code, fee] = line.trim().split(/\s+/);
      if (code) fees[code] = fee || "";
    }
    const body = { name: value(form, "name"), fees };
    const payer = value(form, "payer_id");
    if (payer) body.payer_id = payer;
    await call("POST", "/v1/billing/fee-schedules", body);
    await redraw("Fee schedule added.", "fees");
  });
  return form;
}

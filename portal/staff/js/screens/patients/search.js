// Patient search: by name, date of birth or phone. The API matches through blind indexes
// (never a scan of decrypted names), answers only patients the caller may see, and the
// search terms travel in the POST body — never in the address.

import { call } from "../../../../shared/api.js";
import { can } from "../../permissions.js";
import { announce, busy, clearErrors, el, field, heading, showFormError, table } from "../../ui.js";

function formatDob(iso) {
  const [y, m, d] = iso.split("-").map(Number);
  return new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeZone: "UTC" }).format(
    new Date(Date.UTC(y, m - 1, d)),
  );
}

function patientName(p) {
  const preferred = p.preferred_name && p.preferred_name !== p.legal_first_name;
  const name = `${p.legal_last_name}, ${p.legal_first_name}`;
  return preferred ? `${name} (${p.preferred_name})` : name;
}

export function render(view) {
  const results = el("div", { id: "patient-results", "aria-live": "polite" });
  const form = el(
    "form",
    { id: "patient-search", novalidate: true, "aria-labelledby": "patient-search-title" },
    el("h2", { id: "patient-search-title", class: "visually-hidden", text: "Search" }),
    el(
      "div",
      { class: "row" },
      field("Name", { name: "name", autocomplete: "off", maxlength: "160" }, { hint: "First, last or both." }),
      field("Date of birth", { name: "date_of_birth", type: "date" }),
      field("Phone", { name: "phone", type: "tel", autocomplete: "off", maxlength: "32" }),
    ),
    el("div", { class: "actions" }, el("button", { type: "submit", text: "Search" })),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form);
    const body = {};
    for (const name of ["name", "date_of_birth", "phone"]) {
      const value = form.elements[name].value.trim();
      if (value) body[name] = value;
    }
    if (!Object.keys(body).length) {
      showFormError(form, { details: { fields: [{ path: "body.name", type: "search_empty" }] } }, {
        search_empty: "Enter a name, a date of birth or a phone number.",
      });
      return;
    }
    busy(event.submitter, async () => {
      try {
        const data = await call("POST", "/v1/patients/search", body);
        show(results, data);
        announce(
          data.items.length
            ? `${data.items.length} patient${data.items.length === 1 ? "" : "s"} found.`
            : "No patients found.",
        );
      } catch (error) {
        showFormError(form, error);
      }
    });
  });
  const add = can("patient.create")
    ? el("p", {}, el("a", { class: "button-link", href: "#/patients/new", text: "Add a patient" }))
    : el("span");
  view.append(heading("Patients"), add, form, results);
}

function show(results, data) {
  const rows = data.items.map((p) => [
    el("a", { href: `#/patients/${p.id}`, text: patientName(p) }),
    formatDob(p.date_of_birth),
    p.status,
  ]);
  const parts = [el("h2", { text: "Results" })];
  if (data.truncated) {
    parts.push(
      el("p", {
        class: "notice",
        text: "More patients matched than are shown. Add the date of birth to narrow the search.",
      }),
    );
  }
  results.replaceChildren(
    ...parts,
    table("Patients matching the search", ["Name", "Date of birth", "Status"], rows, "No patients match. Check the spelling, or search by date of birth."),
  );
}

export { formatDob, patientName };

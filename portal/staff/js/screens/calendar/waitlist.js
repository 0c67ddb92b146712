// The waitlist (front desk, admin, owner): who is waiting for an earlier time and when they
// can come, adding a patient, taking one off, and the offers made when a visit inside someone's window was
// cancelled (the API offers a freed slot to up to three matching entries; the first to claim
// it in the portal gets it). The calendar shows the same offers on the cancelled visit.

import { call } from "../../../../shared/api.js";
import { can } from "../../permissions.js";
import { current } from "../../session.js";
import { announce, busy, clearErrors, el, field, formatWhen, heading, localDate, showError, showFormError, table } from "../../ui.js";
import { addDays, zonedInstant, zonedIso } from "../../zoned.js";
import { patientName } from "../patients/search.js";

export const OFFER_STATE = {
  open: "Offered, not yet claimed",
  claimed: "Claimed: booked",
  taken: "Someone else claimed it first",
  expired: "Expired unclaimed",
};
const ENTRY_STATUS = { waiting: "Waiting", booked: "Booked", removed: "Removed" };
const SHORT = { weekday: "short", month: "short", day: "numeric", hour: "numeric", minute: "2-digit" };

/** Every page of a list (a practice's waitlist and offers are short). */
export async function all(path) {
  const found = [];
  let cursor = null;
  for (let i = 0; i < 10; i += 1) {
    const page = await call("GET", cursor ? `${path}${path.includes("?") ? "&" : "?"}cursor=${encodeURIComponent(cursor)}` : path);
    found.push(...page.items);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return found;
}

/** What an offer says in a list: "Morgan, Sam — offered, not yet claimed (until Tue 3:00 PM)". */
export function offerText(offer, name) {
  const until = offer.state === "open" ? ` (until ${formatWhen(offer.expires, SHORT)})` : "";
  return `${name}: ${OFFER_STATE[offer.state] || offer.state}${until}`;
}

function patientPicker(prefix) {
  const find = el("input", { id: `${prefix}-find`, name: "patient_find", autocomplete: "off", maxlength: "160" });
  const findButton = el("button", { type: "button", class: "quiet small", text: "Find patient" });
  const matches = el("select", { id: `${prefix}-match`, name: "patient_id", hidden: true, "aria-label": "Matching patients" });
  findButton.addEventListener("click", () =>
    busy(findButton, async () => {
      matches.replaceChildren();
      matches.hidden = true;
      const name = find.value.trim();
      if (!name) {
        showError("Type a patient's name first.");
        find.focus();
        return;
      }
      const data = await call("POST", "/v1/patients/search", { name });
      matches.replaceChildren(...data.items.map((p) => el("option", { value: p.id, text: `${patientName(p)} (born ${p.date_of_birth})` })));
      matches.hidden = data.items.length === 0;
      announce(data.items.length ? `${data.items.length} found. Choose one.` : "No patient found with that name.");
      if (data.items.length) matches.focus();
    }),
  );
  const box = el("div", { class: "field", "data-field": "patient_id" },
    el("label", { for: `${prefix}-find`, text: "Patient" }),
    el("p", { id: `${prefix}-find-error`, class: "field-error", hidden: true }),
    el("div", { class: "inline" }, find, findButton),
    el("div", { class: "inline" }, matches));
  return { box, chosen: () => (matches.hidden ? "" : matches.value) };
}

export async function render(view) {
  const zone = current.practice.timezone;
  const [clinicians, services] = await Promise.all([
    can("scheduling.clinicians.read") ? call("GET", "/v1/clinicians") : { items: [] },
    call("GET", "/v1/services"),
  ]);
  const clinicianName = new Map(clinicians.items.map((c) => [c.id, c.display_name]));
  const serviceName = new Map(services.items.map((s) => [s.id, s.name]));
  const names = new Map();
  async function name(pid) {
    if (!names.has(pid)) {
      try {
        names.set(pid, patientName(await call("GET", `/v1/patients/${encodeURIComponent(pid)}`)));
      } catch {
        names.set(pid, "Patient");
      }
    }
    return names.get(pid);
  }
  const link = async (pid) => (can("patient.read") ? el("a", { href: `#/patients/${pid}`, text: await name(pid) }) : "Patient");

  const entriesBox = el("section", { class: "card", "aria-labelledby": "waiting-title" });
  const offersBox = el("section", { class: "card", "aria-labelledby": "offers-title" });

  async function loadEntries() {
    const entries = (await all("/v1/waitlist?limit=100")).reverse(); // newest first
    const rows = [];
    for (const e of entries) {
      const windows = e.windows.map((w) => `${formatWhen(w.start, SHORT)} – ${formatWhen(w.end, SHORT)}`).join("; ");
      const who = await name(e.patient_id);
      let action = "";
      if (e.status === "waiting" && can("waitlist.remove")) {
        action = el("button", { type: "button", class: "quiet small", text: "Take off the list" }, el("span", { class: "visually-hidden", text: ` ${who}` }));
        action.addEventListener("click", () => busy(action, async () => {
          try {
            await call("POST", `/v1/waitlist/${e.id}/remove`, { version: e.version });
          } catch (error) {
            if (error.status === 409) {
              await loadEntries();
              showError("This entry changed meanwhile (booked or taken off). The list is reloaded.");
              return;
            }
            throw error;
          }
          await loadEntries();
          announce(`${who} is off the waitlist: no more offers are made to them.`);
          entriesBox.querySelector("h2").focus();
        }));
      }
      rows.push([
        await link(e.patient_id),
        e.clinician_id ? clinicianName.get(e.clinician_id) || "Clinician" : "Any clinician",
        e.service_id ? serviceName.get(e.service_id) || "Service" : "Any service",
        windows,
        ENTRY_STATUS[e.status] || e.status,
        action,
      ]);
    }
    entriesBox.replaceChildren(
      el("h2", { id: "waiting-title", tabindex: "-1", text: "Waiting" }),
      table("Patients on the waitlist", ["Patient", "Clinician", "Service", "Can come", "Status", ""], rows, "Nobody is on the waitlist."),
    );
  }

  async function loadOffers() {
    if (!can("waitlist.offer.list")) return;
    const today = localDate(new Date());
    const from = zonedInstant(addDays(today, -1), "00:00", zone).toISOString();
    const to = zonedInstant(addDays(today, 92), "00:00", zone).toISOString();
    const offers = await all(`/v1/waitlist-offers?${new URLSearchParams({ from, to, limit: "100" })}`);
    const rows = [];
    for (const o of offers) {
      rows.push([
        formatWhen(o.start, SHORT),
        clinicianName.get(o.clinician_id) || "Clinician",
        await link(o.patient_id),
        OFFER_STATE[o.state] || o.state,
        o.state === "open" ? formatWhen(o.expires, SHORT) : "",
      ]);
    }
    offersBox.replaceChildren(
      el("h2", { id: "offers-title", text: "Offers of freed times" }),
      el("p", { class: "hint", text: "When a visit is cancelled, its time is offered to up to three waiting patients whose times match; the first to claim it in the portal gets it. Freed times in the next three months." }),
      table("Offers of freed times", ["Freed time", "Clinician", "Offered to", "Where it stands", "Open until"], rows, "No offers of times in the next three months."),
    );
  }

  view.append(heading("Waitlist"), el("p", { class: "hint", text: `Times in ${zone}.` }));
  view.append(entriesBox, offersBox);
  if (can("waitlist.create")) view.append(addForm());
  await Promise.all([loadEntries(), loadOffers()]);

  function addForm() {
    const picker = patientPicker("wait-patient");
    const today = localDate(new Date());
    const form = el("form", { id: "waitlist-form", class: "card", novalidate: true, "aria-labelledby": "wait-add-title" },
      el("h2", { id: "wait-add-title", text: "Add a patient to the waitlist" }),
      picker.box,
      el("div", { class: "row" },
        field("Clinician", { name: "clinician_id" }, { tag: "select", options: [["", "Any clinician"], ...clinicians.items.map((c) => [c.id, c.display_name])] }),
        field("Service", { name: "service_id" }, { tag: "select", options: [["", "Any service"], ...services.items.filter((s) => s.active !== false).map((s) => [s.id, s.name])] })),
      el("fieldset", { class: "group", "data-field": "windows" },
        el("legend", { text: "When they can come" }),
        el("p", { class: "hint", text: "A cancelled visit that falls inside this stretch of time is offered to them." }),
        el("p", { id: "wait-windows-error", class: "field-error", hidden: true }),
        el("div", { class: "row" },
          field("From date", { name: "from_date", type: "date", value: addDays(today, 1), required: true }),
          field("From time", { name: "from_time", type: "time", value: "08:00", step: "900", required: true }),
          field("Until date", { name: "to_date", type: "date", value: addDays(today, 14), required: true }),
          field("Until time", { name: "to_time", type: "time", value: "18:00", step: "900", required: true }))),
      el("div", { class: "actions" }, el("button", { type: "submit", text: "Add to the waitlist" })));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      clearErrors(form);
      const f = form.elements;
      const patientId = picker.chosen();
      if (!patientId) {
        showFormError(form, { details: { fields: [{ path: "body.patient_id", type: "choose" }] } }, { choose: "Find and choose a patient." });
        return;
      }
      if (!f.from_date.value || !f.to_date.value || !f.from_time.value || !f.to_time.value) {
        showFormError(form, { details: { fields: [{ path: "body.windows", type: "dates" }] } }, { dates: "Enter both dates and times." });
        return;
      }
      const body = {
        patient_id: patientId,
        windows: [{ start: zonedIso(f.from_date.value, f.from_time.value, zone), end: zonedIso(f.to_date.value, f.to_time.value, zone) }],
      };
      if (f.clinician_id.value) body.clinician_id = f.clinician_id.value;
      if (f.service_id.value) body.service_id = f.service_id.value;
      busy(event.submitter, async () => {
        try {
          await call("POST", "/v1/waitlist", body);
        } catch (error) {
          showFormError(form, error, { end_before_start: "The end must be after the start." });
          return;
        }
        const who = form.querySelector("select[name=patient_id]").selectedOptions[0].textContent;
        await loadEntries();
        announce(`Added ${who} to the waitlist.`);
        form.querySelector("input").value = "";
        entriesBox.querySelector("h2").focus();
      });
    });
    return form;
  }
}

// Booking: one visit or a weekly series, for one patient or a group. Conflicts come back
// from the API as 409 and are explained (for a series, every clashing occurrence by date).
// A time outside the clinician's availability comes back as 422 outside_availability: a
// role that may override is asked for a reason (override.js), anyone else for another time.

import { call } from "../../../../shared/api.js";
import { announce, busy, clearErrors, el, field, showError, showFormError } from "../../ui.js";
import { zonedIso } from "../../zoned.js";
import { patientName } from "../patients/search.js";
import { outsideWords, overrideField } from "./override.js";

export function bookingForm(cat, { day, clinicianId, onBooked }) {
  const chosen = new Map(); // patient id -> label
  const chosenList = el("ul", { class: "chosen", "aria-live": "polite" });
  const find = el("input", { id: "book-patient-find", name: "patient_find", autocomplete: "off", maxlength: "160" });
  const matches = el("select", { id: "book-patient-match", name: "patient_match", hidden: true, "aria-label": "Matching patients" });
  const addButton = el("button", { type: "button", class: "quiet small", hidden: true, text: "Add this patient" });
  const findButton = el("button", { type: "button", class: "quiet small", text: "Find patient" });

  function drawChosen() {
    chosenList.replaceChildren(
      ...[...chosen].map(([id, label]) => {
        const remove = el("button", { type: "button", class: "quiet small", text: "Remove" }, el("span", { class: "visually-hidden", text: ` ${label}` }));
        remove.addEventListener("click", () => {
          chosen.delete(id);
          drawChosen();
          find.focus();
        });
        return el("li", {}, el("span", { text: label }), " ", remove);
      }),
    );
  }
  const resetMatches = () => {
    matches.replaceChildren();
    matches.hidden = addButton.hidden = true;
  };
  findButton.addEventListener("click", () =>
    busy(findButton, async () => {
      resetMatches(); // never add a patient from an earlier search
      const name = find.value.trim();
      if (!name) {
        showError("Type a patient's name first.");
        find.focus();
        return;
      }
      const data = await call("POST", "/v1/patients/search", { name });
      matches.replaceChildren(...data.items.map((p) => el("option", { value: p.id, text: `${patientName(p)} (born ${p.date_of_birth})` })));
      matches.hidden = addButton.hidden = data.items.length === 0;
      announce(data.items.length ? `${data.items.length} found. Choose one and add them.` : "No patient found with that name.");
      if (data.items.length) matches.focus();
    }),
  );
  addButton.addEventListener("click", () => {
    const option = matches.selectedOptions[0];
    if (!option) return;
    chosen.set(option.value, option.textContent);
    drawChosen();
    announce(`Added ${option.textContent}.`);
    find.value = "";
    find.focus();
  });

  const override = overrideField("book-override-reason");
  const options = (items, label) => items.map((x) => [x.id, label(x)]);
  const form = el(
    "form",
    { id: "book-form", novalidate: true, "aria-labelledby": "book-title" },
    el("h2", { id: "book-title", tabindex: "-1", text: "Book an appointment" }),
    el("div", { class: "field", "data-field": "patient_ids" },
      el("label", { for: "book-patient-find", text: "Patient" }),
      el("p", { class: "hint", text: "Find by name and add. Add more than one for a group session." }),
      el("p", { id: "book-patient-find-error", class: "field-error", hidden: true }),
      el("div", { class: "inline" }, find, findButton),
      el("div", { class: "inline" }, matches, addButton),
      chosenList),
    el("div", { class: "row" },
      field("Clinician", { name: "clinician_id" }, { tag: "select", options: options(cat.clinicians, (c) => c.display_name) }),
      field("Service", { name: "service_id" }, { tag: "select", options: options(cat.services.filter((s) => s.active !== false), (s) => `${s.name} (${s.duration_minutes} min)`) }),
      field("Location", { name: "location_id" }, { tag: "select", options: options(cat.locations.filter((l) => l.active !== false), (l) => l.name) }),
    ),
    el("div", { class: "row" },
      field("Date", { name: "date", type: "date", required: true, value: day }),
      field("Time", { name: "time", type: "time", required: true, value: "10:00", step: "900" }),
      field("Repeat", { name: "repeat" }, { tag: "select", options: [["", "Does not repeat"], ["FREQ=WEEKLY", "Every week"], ["FREQ=WEEKLY;INTERVAL=2", "Every 2 weeks"]] }),
      field("Number of visits", { name: "count", type: "number", min: "2", max: "52", value: "6" }, { hint: "For a repeating booking." }),
    ),
    override.box,
    el("div", { class: "actions" }, el("button", { type: "submit", text: "Book" })),
  );
  if (clinicianId) form.elements.clinician_id.value = clinicianId;

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form);
    const f = form.elements;
    if (!chosen.size) {
      showFormError(form, { details: { fields: [{ path: "body.patient_ids", type: "choose_patient" }] } }, { choose_patient: "Find and add at least one patient." });
      return;
    }
    const location = cat.locations.find((l) => l.id === f.location_id.value);
    const zone = (location && location.timezone) || cat.zone;
    const base = {
      patient_ids: [...chosen.keys()],
      clinician_id: f.clinician_id.value,
      service_id: f.service_id.value,
      location_id: f.location_id.value,
    };
    const reason = override.value();
    if (reason) base.override = reason;
    busy(event.submitter, async () => {
      try {
        if (f.repeat.value) {
          const series = await call("POST", "/v1/appointment-series", {
            ...base,
            rrule: f.repeat.value,
            start_local: `${f.date.value}T${f.time.value}:00`,
            timezone: zone,
            count: Number.parseInt(f.count.value, 10),
          });
          await onBooked(`Booked ${series.appointments.length} visits, starting ${f.date.value} at ${f.time.value}.`, f.date.value);
        } else {
          await call("POST", "/v1/appointments", { ...base, start: zonedIso(f.date.value, f.time.value, zone) });
          await onBooked(`Booked ${f.date.value} at ${f.time.value}.`, f.date.value);
        }
        chosen.clear();
        drawChosen();
        resetMatches();
        override.reset();
      } catch (error) {
        if (error.code === "outside_availability") {
          const offered = override.offer(error);
          const path = offered ? "body.override.reason" : "body.time";
          showFormError(form, { details: { fields: [{ path, type: "outside" }] } }, { outside: outsideWords(error, { offered }) });
          return;
        }
        if (error.status === 409) {
          const clashes = (error.details && error.details.occurrences) || [];
          const summary = clashes.length
            ? `These visits clash with existing bookings: ${clashes.map((o) => `visit ${o.index + 1} on ${o.date}`).join(", ")}. Nothing was booked. Pick another time or fewer visits.`
            : "That time clashes with another booking for the clinician, the room or the patient. Nothing was booked. Pick another time.";
          showFormError(form, { details: { fields: [{ path: "body.time", type: "clash" }] } }, { clash: summary });
          return;
        }
        showFormError(form, error, { clash: "" });
      }
    });
  });
  return form;
}

// The calendar: a day or a week for one clinician, or everyone, at one location or all;
// book (single, weekly series, group), and per visit: arrived, no-show, completed,
// reschedule (by form: keyboard-friendly), cancel with a reason. A cancelled visit shows
// the waitlist offers its freed time made (roles with waitlist.offer.list). Times are shown
// in the practice's zone. Patients are named only to roles that may read them (each read
// audited).

import { call } from "../../../../shared/api.js";
import { can, hasRole } from "../../permissions.js";
import { current } from "../../session.js";
import { announce, busy, el, formatTime, heading, localDate, showError } from "../../ui.js";
import { addDays, localParts, weekStart, zonedInstant, zonedIso } from "../../zoned.js";
import { patientName } from "../patients/search.js";
import { bookingForm } from "./book.js";
import { outsideWords, overrideField } from "./override.js";
import { all, offerText } from "./waitlist.js";

const STATUS = { booked: "Booked", arrived: "Arrived", completed: "Completed", cancelled: "Cancelled", no_show: "No-show" };
const NEXT = { booked: [["arrived", "Arrived"], ["no_show", "No-show"]], arrived: [["completed", "Completed"]] };

async function catalogue() {
  const [clinicians, services, locations] = await Promise.all([
    can("scheduling.clinicians.read") ? call("GET", "/v1/clinicians") : { items: [] },
    call("GET", "/v1/services"),
    call("GET", "/v1/locations"),
  ]);
  return { clinicians: clinicians.items, services: services.items, locations: locations.items, zone: current.practice.timezone };
}

export async function render(view) {
  const cat = await catalogue();
  const zone = cat.zone;
  const state = {
    mode: "week",
    day: localDate(new Date()),
    clinician: hasRole("clinician") || hasRole("supervisor") ? current.me.id : "",
    location: "",
  };
  const names = new Map();
  const offersBy = new Map(); // cancelled appointment id -> the offers its time made
  const byId = (list) => new Map(list.map((x) => [x.id, x]));
  const services = byId(cat.services);
  const locations = byId(cat.locations);
  const clinicians = byId(cat.clinicians);

  const controls = el(
    "form",
    { id: "calendar-controls", class: "row", "aria-label": "Calendar view" },
    el("div", {}, el("label", { for: "cal-view", text: "View" }),
      el("select", { id: "cal-view" }, el("option", { value: "day", text: "Day" }), el("option", { value: "week", text: "Week", selected: true }))),
    el("div", {}, el("label", { for: "cal-date", text: "Date" }), el("input", { id: "cal-date", type: "date", value: state.day })),
    el("div", {}, el("label", { for: "cal-clinician", text: "Clinician" }),
      el("select", { id: "cal-clinician" }, el("option", { value: "", text: "Everyone" }),
        ...cat.clinicians.map((c) => el("option", { value: c.id, text: c.display_name, selected: c.id === state.clinician })))),
    el("div", {}, el("label", { for: "cal-location", text: "Location" }),
      el("select", { id: "cal-location" }, el("option", { value: "", text: "All locations" }),
        ...cat.locations.map((l) => el("option", { value: l.id, text: l.name })))),
    el("div", { class: "actions" },
      el("button", { type: "submit", text: "Show" }),
      el("button", { type: "button", class: "quiet", id: "cal-prev", text: "Previous" }),
      el("button", { type: "button", class: "quiet", id: "cal-today", text: "Today" }),
      el("button", { type: "button", class: "quiet", id: "cal-next", text: "Next" })),
  );
  const results = el("div", { id: "calendar-days" });

  async function name(pid) {
    if (!can("patient.read")) return "Patient";
    if (!names.has(pid)) {
      try {
        names.set(pid, patientName(await call("GET", `/v1/patients/${encodeURIComponent(pid)}`)));
      } catch {
        names.set(pid, "Patient");
      }
    }
    return names.get(pid);
  }

  function range() {
    const first = state.mode === "week" ? weekStart(state.day) : state.day;
    const days = state.mode === "week" ? 7 : 1;
    return { first, days };
  }

  async function load(message) {
    const { first, days } = range();
    const q = new URLSearchParams({
      from: zonedInstant(first, "00:00", zone).toISOString(),
      to: zonedInstant(addDays(first, days), "00:00", zone).toISOString(),
      limit: "100",
    });
    // The API lists one clinician's schedule at a time: "everyone" is one query each.
    const who = state.clinician ? [state.clinician] : cat.clinicians.map((c) => c.id);
    const lists = await Promise.all(
      who.map(async (clinicianId) => {
        const mine = new URLSearchParams(q);
        mine.set("clinician_id", clinicianId);
        const found = [];
        let cursor = null;
        for (let i = 0; i < 10; i += 1) {
          if (cursor) mine.set("cursor", cursor);
          const page = await call("GET", `/v1/appointments?${mine}`);
          found.push(...page.items);
          cursor = page.next_cursor;
          if (!cursor) break;
        }
        return found;
      }),
    );
    const items = lists.flat();
    offersBy.clear();
    if (can("waitlist.offer.list")) {
      const offers = await all(`/v1/waitlist-offers?${new URLSearchParams({ from: q.get("from"), to: q.get("to"), limit: "100" })}`);
      for (const o of offers) {
        if (!o.source_appointment_id) continue;
        if (!offersBy.has(o.source_appointment_id)) offersBy.set(o.source_appointment_id, []);
        offersBy.get(o.source_appointment_id).push(o);
      }
    }
    const shown = items
      .filter((a) => !state.location || a.location_id === state.location)
      .sort((a, b) => a.start.localeCompare(b.start));
    const sections = [];
    for (let i = 0; i < days; i += 1) {
      const day = addDays(first, i);
      const todays = shown.filter((a) => localParts(a.start, zone).day === day);
      const label = new Intl.DateTimeFormat(undefined, { weekday: "long", month: "long", day: "numeric", timeZone: "UTC" }).format(new Date(`${day}T12:00:00Z`));
      const rows = [];
      for (const a of todays) rows.push(await row(a));
      sections.push(
        el("section", { class: "day", "aria-labelledby": `day-${day}` },
          el("h2", { id: `day-${day}`, text: label }),
          rows.length
            ? el("div", { class: "scroll", tabindex: "0", role: "region", "aria-label": `Appointments on ${label}` },
                el("table", {},
                  el("caption", { text: `Appointments on ${label}` }),
                  el("thead", {}, el("tr", {}, ...["Time", "Patient", "Clinician", "Service", "Location", "Status", "Actions"].map((c) => el("th", { scope: "col", text: c })))),
                  el("tbody", {}, ...rows)))
            : el("p", { class: "empty", text: "No appointments." })),
      );
    }
    if (state.mode === "day" && can("appointment.reschedule")) sections.push(await dayGrid(first, shown));
    results.replaceChildren(...sections);
    if (message) announce(message);
  }

  // The day as a grid: 15-minute rows, one column per room (location). Drag a booked visit
  // onto a new time, or into another room's column, to move it (pointer users). Keyboard
  // users move visits with "Reschedule" in the list above, which does the same; the grid
  // repeats what the list says, so nothing is only here.
  async function dayGrid(day, shown) {
    const times = shown.map((a) => localParts(a.start, zone).time);
    let startHour = 7;
    let endHour = 20;
    for (const t of times) {
      const h = Number.parseInt(t.slice(0, 2), 10);
      startHour = Math.min(startHour, h);
      endHour = Math.max(endHour, h + 1);
    }
    const rooms = cat.locations.filter((l) => (state.location ? l.id === state.location : l.active !== false || shown.some((a) => a.location_id === l.id)));
    const at = new Map(); // "HH:MM|location id" -> visits starting there
    for (const a of shown) {
      const key = `${localParts(a.start, zone).time}|${a.location_id}`;
      if (!at.has(key)) at.set(key, []);
      at.get(key).push(a);
    }
    const rows = [];
    for (let h = startHour; h < endHour; h += 1) {
      for (const m of [0, 15, 30, 45]) {
        const time = `${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}`;
        const cells = [];
        for (const room of rooms) {
          const chips = [];
          for (const a of at.get(`${time}|${room.id}`) || []) {
            const who = [];
            for (const pid of a.patient_ids) who.push(await name(pid));
            const clinician = clinicians.get(a.clinician_id);
            const label = `${who.join(", ")}${clinician ? ` with ${clinician.display_name}` : ""}`;
            const movable = a.status === "booked";
            const chip = el("span", { class: `chip status-${a.status}`, draggable: movable ? "true" : null, "data-appointment": a.id, text: movable ? label : `${label} (${STATUS[a.status] || a.status})` });
            if (movable) {
              chip.addEventListener("dragstart", (event) => {
                event.dataTransfer.setData("text/plain", a.id);
                event.dataTransfer.effectAllowed = "move";
              });
            }
            chips.push(chip);
          }
          const cell = el("td", { class: "slot", "data-location": room.id }, ...chips);
          cell.addEventListener("dragover", (event) => {
            event.preventDefault();
            cell.classList.add("drop");
          });
          cell.addEventListener("dragleave", () => cell.classList.remove("drop"));
          cell.addEventListener("drop", (event) => {
            event.preventDefault();
            cell.classList.remove("drop");
            const a = shown.find((x) => x.id === event.dataTransfer.getData("text/plain"));
            if (!a || (localParts(a.start, zone).time === time && a.location_id === room.id)) return;
            busy(null, () => moveTo(a, day, time, room));
          });
          cells.push(cell);
        }
        rows.push(el("tr", { "data-time": time }, el("th", { scope: "row", text: time }), ...cells));
      }
    }
    return el("section", { class: "day grid", "aria-labelledby": "grid-title" },
      el("h2", { id: "grid-title", text: "The day by room: drag to move" }),
      el("p", { class: "hint", id: "grid-hint", text: "Drag a booked visit to a new time, or into another room's column. With a keyboard, use Reschedule in the list above." }),
      el("div", { class: "scroll", tabindex: "0", role: "region", "aria-label": "The day by room in 15-minute steps", "aria-describedby": "grid-hint" },
        el("table", {}, el("caption", { text: "The day by room in 15-minute steps" }),
          el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Time" }), ...rooms.map((r) => el("th", { scope: "col", text: r.name })))),
          el("tbody", {}, ...rows))));
  }

  async function moveTo(a, day, time, room) {
    const who = [];
    for (const pid of a.patient_ids) who.push(await name(pid));
    const body = { version: a.version, start: zonedIso(day, time, zone) };
    if (room.id !== a.location_id) body.location_id = room.id;
    try {
      await call("POST", `/v1/appointments/${a.id}/reschedule`, body);
    } catch (error) {
      if (error.status === 409 && error.code !== "version_conflict") {
        showError(`${time} clashes with another booking for the clinician, the room or the patient. Nothing changed. Pick another time.`);
        return;
      }
      if (error.code === "outside_availability") {
        // A drop has no room for a reason: the list's Reschedule form asks for one.
        showError(outsideWords(error, { elsewhere: "To move it there anyway, use Reschedule in the list and give the reason." }));
        return;
      }
      if (error.code === "version_conflict") await load();
      throw error;
    }
    await load(`Moved ${who.join(", ")} to ${time}${body.location_id ? ` in ${room.name}` : ""}.`);
  }

  async function moveFollowing(a, time, patients, override) {
    const series = await call("GET", `/v1/appointment-series/${a.series_id}`);
    try {
      const body = {
        version: series.version,
        from_occurrence: a.series_index,
        changes: { start_time: `${time}:00` },
      };
      const reason = override.value();
      if (reason) body.override = reason;
      const moved = await call("POST", `/v1/appointment-series/${a.series_id}/split`, body);
      await load(`Moved ${moved.appointments.length} visits for ${patients.join(", ")}, from ${localParts(a.start, zone).day}, to ${time}.`);
    } catch (error) {
      if (error.status === 409 && error.code !== "version_conflict") {
        const clashes = (error.details && error.details.occurrences) || [];
        showError(clashes.length
          ? `These visits would clash with existing bookings: ${clashes.map((o) => `visit ${o.index + 1} on ${o.date}`).join(", ")}. Nothing changed. Pick another time.`
          : "That time clashes with another booking for the clinician, the room or the patient. Nothing changed. Pick another time.");
        return;
      }
      if (error.code === "outside_availability") {
        showError(outsideWords(error, { offered: override.offer(error) }));
        if (override.shown()) override.input.focus();
        return;
      }
      if (error.code === "version_conflict") await load();
      throw error;
    }
  }

  async function row(a) {
    const patients = [];
    for (const pid of a.patient_ids) patients.push(await name(pid));
    const when = `${formatTime(a.start)}–${formatTime(a.end)}`;
    const what = `${when} ${patients.join(", ")}`;
    const actions = el("div", { class: "actions tight" });
    const forms = el("div");
    const version = a.version;
    if (can("appointment.status")) {
      for (const [status, label] of NEXT[a.status] || []) {
        const b = el("button", { type: "button", class: "quiet small", text: label }, el("span", { class: "visually-hidden", text: `: ${what}` }));
        b.addEventListener("click", () =>
          busy(b, async () => {
            await call("POST", `/v1/appointments/${a.id}/status`, { version, status });
            await load(`${label}: ${what}.`);
          }),
        );
        actions.append(b);
      }
    }
    if (a.status === "booked" && can("appointment.reschedule")) {
      const open = el("button", { type: "button", class: "quiet small", text: "Reschedule" }, el("span", { class: "visually-hidden", text: `: ${what}` }));
      const local = localParts(a.start, zone);
      const dateId = `move-date-${a.id}`;
      const timeId = `move-time-${a.id}`;
      // A visit of a series: move only it, or it and every later visit ("this and
      // following": the API ends the series there and starts a new one at the new time).
      const scopeName = `move-scope-${a.id}`;
      const which = a.series_id
        ? el("fieldset", { class: "which" },
            el("legend", { text: "Which visits" }),
            el("div", { class: "check" }, el("input", { type: "radio", id: `${scopeName}-one`, name: scopeName, value: "one", checked: true }), el("label", { for: `${scopeName}-one`, text: "Only this visit" })),
            el("div", { class: "check" }, el("input", { type: "radio", id: `${scopeName}-following`, name: scopeName, value: "following" }), el("label", { for: `${scopeName}-following`, text: "This and following visits (same weekday; choose the time)" })))
        : null;
      const override = overrideField(`move-override-${a.id}`);
      const form = el("form", { hidden: true, class: "inline-form", "aria-label": `Reschedule ${what}` },
        which,
        el("label", { for: dateId, text: "New date" }), el("input", { id: dateId, type: "date", value: local.day, required: true }),
        el("label", { for: timeId, text: "New time" }), el("input", { id: timeId, type: "time", value: local.time, step: "900", required: true }),
        override.box,
        el("div", { class: "actions" }, el("button", { type: "submit", class: "small", text: "Move" }), el("button", { type: "button", class: "quiet small", text: "Keep" })));
      const following = () => Boolean(which) && which.querySelector(`#${scopeName}-following`).checked;
      if (which) {
        which.addEventListener("change", () => {
          const day = form.querySelector(`#${dateId}`);
          day.disabled = following();
          if (following()) day.value = local.day;
        });
      }
      open.addEventListener("click", () => { form.hidden = false; form.querySelector("input").focus(); });
      form.querySelectorAll("button")[1].addEventListener("click", () => { form.hidden = true; open.focus(); });
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        if (following()) {
          busy(event.submitter, () => moveFollowing(a, form.querySelector(`#${timeId}`).value, patients, override));
          return;
        }
        busy(event.submitter, async () => {
          const loc = locations.get(a.location_id);
          const start = zonedIso(form.querySelector(`#${dateId}`).value, form.querySelector(`#${timeId}`).value, (loc && loc.timezone) || zone);
          const body = { version, start };
          const reason = override.value();
          if (reason) body.override = reason;
          try {
            await call("POST", `/v1/appointments/${a.id}/reschedule`, body);
          } catch (error) {
            if (error.status === 409 && error.code !== "version_conflict") {
              showError("That time clashes with another booking for the clinician, the room or the patient. Nothing changed. Pick another time.");
              return;
            }
            if (error.code === "outside_availability") {
              showError(outsideWords(error, { offered: override.offer(error) }));
              if (override.shown()) override.input.focus();
              return;
            }
            if (error.code === "version_conflict") await load();
            throw error;
          }
          await load(`Moved ${patients.join(", ")} to ${form.querySelector(`#${dateId}`).value} ${form.querySelector(`#${timeId}`).value}.`);
        });
      });
      actions.append(open);
      forms.append(form);
    }
    if (a.status === "booked" && can("appointment.cancel")) {
      const open = el("button", { type: "button", class: "quiet small", text: "Cancel" }, el("span", { class: "visually-hidden", text: `: ${what}` }));
      const reasonId = `cancel-reason-${a.id}`;
      const form = el("form", { hidden: true, class: "inline-form", "aria-label": `Cancel ${what}` },
        el("label", { for: reasonId, text: a.series_id ? "Reason for cancelling this visit (the rest of the series stays)" : "Reason for cancelling" }),
        el("input", { id: reasonId, maxlength: "500", required: true }),
        el("div", { class: "actions" }, el("button", { type: "submit", class: "small danger", text: "Cancel visit" }), el("button", { type: "button", class: "quiet small", text: "Keep visit" })));
      open.addEventListener("click", () => { form.hidden = false; form.querySelector("input").focus(); });
      form.querySelectorAll("button")[1].addEventListener("click", () => { form.hidden = true; open.focus(); });
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        const reason = form.querySelector("input").value.trim();
        if (!reason) {
          showError("Give a reason for cancelling.");
          form.querySelector("input").focus();
          return;
        }
        busy(event.submitter, async () => {
          await call("POST", `/v1/appointments/${a.id}/cancel`, { version, reason });
          await load();
          const offered = (offersBy.get(a.id) || []).length;
          const waitlist = offered ? ` The time was offered to ${offered} ${offered === 1 ? "patient" : "patients"} on the waitlist.` : "";
          announce(`Cancelled: ${what}.${waitlist}`);
        });
      });
      actions.append(open);
      forms.append(form);
    }
    const service = services.get(a.service_id);
    const location = locations.get(a.location_id);
    const clinician = clinicians.get(a.clinician_id);
    const patientCell = el("td", {}, ...patients.flatMap((p, i) => [
      i ? ", " : "",
      can("patient.read") ? el("a", { href: `#/patients/${a.patient_ids[i]}`, text: p }) : p,
    ]));
    const statusCell = el("td", { text: `${STATUS[a.status] || a.status}${a.series_id ? " · recurring" : ""}` });
    if (a.override) {
      // Booked outside the clinician's availability: the reason given (staff only).
      statusCell.append(el("p", { class: "hint override", text: `Outside the clinician's hours: ${a.override.reason}` }));
    }
    const offers = offersBy.get(a.id) || [];
    if (offers.length) {
      const items = [];
      for (const o of offers) items.push(el("li", { text: offerText(o, await name(o.patient_id)) }));
      statusCell.append(el("p", { class: "hint", text: "Waitlist offers:" }), el("ul", { class: "offers", "aria-label": `Waitlist offers for ${when}` }, ...items));
    }
    return el("tr", { class: `status-${a.status}` },
      el("td", { text: when }),
      patientCell,
      el("td", { text: clinician ? clinician.display_name : "" }),
      el("td", { text: (service ? service.name : "") + (a.patient_ids.length > 1 ? " (group)" : "") }),
      el("td", { text: location ? location.name : a.location_kind }),
      statusCell,
      el("td", {}, actions, forms),
    );
  }

  controls.addEventListener("submit", (event) => {
    event.preventDefault();
    state.mode = controls.querySelector("#cal-view").value;
    state.day = controls.querySelector("#cal-date").value || state.day;
    state.clinician = controls.querySelector("#cal-clinician").value;
    state.location = controls.querySelector("#cal-location").value;
    busy(event.submitter, () => load("Calendar updated."));
  });
  const step = (n) => {
    state.day = addDays(state.day, state.mode === "week" ? 7 * n : n);
    controls.querySelector("#cal-date").value = state.day;
    return load(`Showing ${state.mode === "week" ? "the week of" : ""} ${state.day}.`);
  };
  controls.querySelector("#cal-prev").addEventListener("click", (e) => busy(e.currentTarget, () => step(-1)));
  controls.querySelector("#cal-next").addEventListener("click", (e) => busy(e.currentTarget, () => step(1)));
  controls.querySelector("#cal-today").addEventListener("click", (e) =>
    busy(e.currentTarget, () => {
      state.day = localDate(new Date());
      controls.querySelector("#cal-date").value = state.day;
      return load("Showing today.");
    }),
  );

  view.append(heading("Calendar"), el("p", { class: "hint", text: `Times in ${zone}.` }));
  if (can("waitlist.list")) view.append(el("p", {}, el("a", { href: "#/calendar/waitlist", text: "Waitlist and offers of freed times" })));
  view.append(controls);
  if (can("appointment.book")) {
    const toggle = el("button", { type: "button", id: "book-open", text: "Book an appointment", "aria-expanded": "false" });
    const holder = el("div", { hidden: true });
    holder.append(bookingForm(cat, {
      day: state.day,
      clinicianId: state.clinician,
      onBooked: async (message, day) => {
        state.day = day;
        controls.querySelector("#cal-date").value = day;
        await load(message);
        results.querySelector("h2").focus();
      },
    }));
    toggle.addEventListener("click", () => {
      holder.hidden = !holder.hidden;
      toggle.setAttribute("aria-expanded", String(!holder.hidden));
      if (!holder.hidden) holder.querySelector("h2").focus();
    });
    view.append(toggle, holder);
  }
  view.append(results);
  await load();
}

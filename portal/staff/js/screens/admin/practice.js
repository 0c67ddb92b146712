// The practice: settings (session timeouts, break-glass time box, late entry, provisioning
// approval), locations, services and fees, and each clinician's weekly hours and their
// exceptions (time off, extra hours). Every change
// carries the version it was loaded at (409 reloads with a message).

import { call } from "../../../../shared/api.js";
import { can } from "../../permissions.js";
import { announce, busy, clearErrors, el, field, heading, showError, showFormError, table } from "../../ui.js";

const DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const SETTINGS = [
  ["session_idle_minutes", "Sign out after this many idle minutes", 1, 240],
  ["session_max_hours", "Longest session, in hours", 1, 72],
  ["break_glass_minutes", "Emergency (break-glass) access lasts, in minutes", 5, 480],
  ["late_entry_hours", "A note signed this many hours after its visit is a late entry", 1, 720],
  ["age_of_majority", "A parent's proxy access ends when the patient turns (age of majority)", 16, 21],
];

async function settingsPart(box) {
  const practice = await call("GET", "/v1/practice");
  const form = el("form", { id: "settings-form", novalidate: true },
    ...SETTINGS.map(([k, label, min, max]) => {
      const f = field(label, { name: k, type: "number", min: String(min), max: String(max), value: String(practice.settings[k]) }, { hint: `From ${min} to ${max}.` });
      f.dataset.field = `settings.${k}`;
      return f;
    }),
    el("div", { class: "check" },
      el("input", { type: "checkbox", id: "set-approval", name: "require_provisioning_approval", checked: practice.settings.require_provisioning_approval }),
      el("label", { for: "set-approval", text: "A second administrator approves every invitation" })),
    el("button", { type: "submit", text: "Save settings" }),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form);
    const settings = { require_provisioning_approval: form.elements.require_provisioning_approval.checked };
    for (const [k] of SETTINGS) settings[k] = Number.parseInt(form.elements[k].value, 10);
    busy(event.submitter, async () => {
      try {
        await call("PATCH", "/v1/practice/settings", { version: practice.version, settings });
      } catch (error) {
        if (error.code === "version_conflict") {
          await fill(box, settingsPart);
          showError("The settings changed meanwhile. They are reloaded: check them and save again.");
          return;
        }
        showFormError(form, error);
        return;
      }
      await fill(box, settingsPart);
      announce("Settings saved. New sessions use them.");
    });
  });
  return [el("p", { class: "hint", text: practice.name }), form];
}

async function locationsPart(box) {
  const data = await call("GET", "/v1/locations");
  const rows = data.items.map((l) => {
    let action = "";
    if (l.active !== false) {
      action = el("button", { type: "button", class: "quiet small", text: "Deactivate" }, el("span", { class: "visually-hidden", text: ` ${l.name}` }));
      action.addEventListener("click", () => busy(action, async () => {
        await call("POST", `/v1/locations/${l.id}/deactivate`, { version: l.version });
        await fill(box, locationsPart);
        announce(`${l.name} deactivated: no new bookings there; booked visits stay.`);
      }));
    }
    return [l.name, l.kind === "telehealth" ? "Video" : "Office", l.timezone, l.active === false ? "Inactive" : "Active", action];
  });
  const form = el("form", { id: "location-form", class: "row", novalidate: true, "aria-label": "Add a location" },
    field("Name", { name: "name", maxlength: "80", required: true, autocomplete: "off" }),
    field("Kind", { name: "kind" }, { tag: "select", options: [["office", "Office"], ["telehealth", "Video"]] }),
    field("Time zone", { name: "timezone", value: "America/Chicago", maxlength: "64" }),
    el("div", {}, el("button", { type: "submit", text: "Add location" })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form);
    const body = { name: form.elements.name.value.trim(), kind: form.elements.kind.value, timezone: form.elements.timezone.value.trim() };
    busy(event.submitter, async () => {
      try {
        await call("POST", "/v1/locations", body);
      } catch (error) {
        showFormError(form, error, { unknown_timezone: "Use a time zone name like America/Chicago." });
        return;
      }
      await fill(box, locationsPart);
      announce(`Added ${body.name}.`);
    });
  });
  return [table("Locations", ["Name", "Kind", "Time zone", "Status", ""], rows, "No locations yet."), form];
}

async function servicesPart(box) {
  const data = await call("GET", "/v1/services");
  const rows = data.items.map((s) => {
    const feeId = `fee-${s.id}`;
    const fee = el("input", { id: feeId, value: s.fee.amount, inputmode: "decimal", class: "short" });
    const save = el("button", { type: "button", class: "quiet small", text: "Save fee" }, el("span", { class: "visually-hidden", text: ` for ${s.name}` }));
    save.addEventListener("click", () => busy(save, async () => {
      await call("PATCH", `/v1/services/${s.id}`, { version: s.version, fee: { amount: fee.value.trim(), currency: s.fee.currency } });
      await fill(box, servicesPart);
      announce(`Fee for ${s.name} saved.`);
    }));
    const cell = el("div", { class: "inline" }, el("label", { for: feeId, class: "visually-hidden", text: `Fee for ${s.name}` }), fee, save);
    return [s.name, s.cpt_code, `${s.duration_minutes} min`, s.active === false ? `${s.fee.amount} (inactive)` : cell];
  });
  const form = el("form", { id: "service-form", class: "row", novalidate: true, "aria-label": "Add a service" },
    field("Name", { name: "name", maxlength: "80", required: true, autocomplete: "off" }),
    field("CPT code", { name: "cpt_code", maxlength: "5", autocomplete: "off" }),
    field("Minutes", { name: "duration_minutes", type: "number", min: "5", max: "480", step: "5", value: "50" }),
    field("Fee (USD)", { name: "fee", inputmode: "decimal", value: "150.00" }),
    el("div", {}, el("button", { type: "submit", text: "Add service" })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form);
    const f = form.elements;
    const body = { name: f.name.value.trim(), cpt_code: f.cpt_code.value.trim(), duration_minutes: Number.parseInt(f.duration_minutes.value, 10), fee: { amount: f.fee.value.trim(), currency: "USD" } };
    busy(event.submitter, async () => {
      try {
        await call("POST", "/v1/services", body);
      } catch (error) {
        showFormError(form, error);
        return;
      }
      await fill(box, servicesPart);
      announce(`Added ${body.name}.`);
    });
  });
  return [table("Services and fees", ["Service", "CPT", "Length", "Fee"], rows, "No services yet."), form];
}

async function hoursPart(box) {
  const [people, locations] = await Promise.all([call("GET", "/v1/clinicians"), call("GET", "/v1/locations")]);
  const pick = el("select", { id: "hours-clinician" }, ...people.items.map((c) => el("option", { value: c.id, text: c.display_name })));
  const editor = el("div", { id: "hours-editor" });
  const load = () => clinicianHours(editor, pick.value, pick.selectedOptions[0].textContent, locations.items);
  pick.addEventListener("change", () => busy(null, load));
  if (people.items.length) await load();
  return [el("div", { class: "inline" }, el("label", { for: "hours-clinician", text: "Clinician" }), pick), editor];
}

/** One clinician's weekly hours and their exceptions, drawn into `editor` (redrawn after
 * each save). Used by the practice screen (any clinician) and "My hours" (oneself). */
export async function clinicianHours(editor, clinicianId, who, locations) {
  const load = () => clinicianHours(editor, clinicianId, who, locations);
  const a = await call("GET", `/v1/clinicians/${clinicianId}/availability`);
  const byDay = new Map(a.weekly.map((r) => [r.weekday, r]));
  const form = el("form", { novalidate: true, "aria-label": "Weekly hours" },
    el("div", { class: "scroll", tabindex: "0", role: "region", "aria-label": "Weekly hours" },
      el("table", {}, el("caption", { text: `Weekly hours (${a.timezone})` }),
        el("thead", {}, el("tr", {}, ...["Day", "Works", "From", "To"].map((h) => el("th", { scope: "col", text: h })))),
        el("tbody", {}, ...DAYS.map((day, i) => {
          const r = byDay.get(i);
          return el("tr", {}, el("th", { scope: "row", text: day }),
            el("td", {}, el("input", { type: "checkbox", name: `on-${i}`, "aria-label": `Works on ${day}`, checked: Boolean(r) })),
            el("td", {}, el("input", { type: "time", name: `start-${i}`, "aria-label": `${day} from`, value: r ? r.start : "09:00" })),
            el("td", {}, el("input", { type: "time", name: `end-${i}`, "aria-label": `${day} to`, value: r ? r.end : "17:00" })));
        })))),
    el("button", { type: "submit", text: "Save hours" }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const ids = locations.filter((l) => l.active !== false).map((l) => l.id);
    const weekly = DAYS.map((_, i) => i).filter((i) => form.elements[`on-${i}`].checked).map((i) => ({
      weekday: i, start: form.elements[`start-${i}`].value, end: form.elements[`end-${i}`].value, location_ids: ids,
    }));
    busy(event.submitter, async () => {
      await call("PATCH", `/v1/clinicians/${clinicianId}/availability`, { version: a.version, weekly });
      await load();
      announce("Hours saved. Online booking offers the new times.");
    });
  });
  editor.replaceChildren(form, exceptionsPart(a, locations, load, who));
}

const EXCEPTION_KIND = { off: "Time off", extra: "Extra hours" };

/** Exceptions to the weekly hours: time off (whole days or part of each day) and extra
 * hours at a location. Every change saves the whole list with the version it was loaded at. */
function exceptionsPart(a, locations, reload, who) {
  const locationName = new Map(locations.map((l) => [l.id, l.name]));
  const save = async (exceptions, message) => {
    await call("PATCH", `/v1/clinicians/${a.clinician_id}/availability`, { version: a.version, exceptions });
    await reload();
    announce(message);
    document.getElementById("exceptions-title").focus();
  };
  const describe = (x) => {
    const days = x.start_date === x.end_date ? x.start_date : `${x.start_date} to ${x.end_date}`;
    const hours = x.start ? `${String(x.start).slice(0, 5)}–${String(x.end).slice(0, 5)}` : "All day";
    return { days, hours };
  };
  const rows = a.exceptions.map((x, i) => {
    const { days, hours } = describe(x);
    const remove = el("button", { type: "button", class: "quiet small", text: "Remove" }, el("span", { class: "visually-hidden", text: ` ${EXCEPTION_KIND[x.kind]} ${days}` }));
    remove.addEventListener("click", () => busy(remove, () => save(a.exceptions.filter((_, j) => j !== i), `Removed ${EXCEPTION_KIND[x.kind].toLowerCase()} on ${days}.`)));
    return [EXCEPTION_KIND[x.kind] || x.kind, days, hours, x.location_ids.map((id) => locationName.get(id) || "Location").join(", ") || "—", remove];
  });
  const active = locations.filter((l) => l.active !== false);
  const form = el("form", { id: "exception-form", novalidate: true, "aria-label": "Add an exception" },
    el("div", { class: "row" },
      field("Kind", { name: "kind" }, { tag: "select", options: [["off", "Time off"], ["extra", "Extra hours"]] }),
      field("From", { name: "start_date", type: "date", required: true }),
      field("Until", { name: "end_date", type: "date", required: true }, { hint: "The same day for one day." })),
    el("div", { class: "row" },
      field("Start time", { name: "start", type: "time", step: "900" }, { hint: "Leave both times empty for whole days off." }),
      field("End time", { name: "end", type: "time", step: "900" }),
      field("Location", { name: "location_id" }, { tag: "select", options: [["", "Any (time off)"], ...active.map((l) => [l.id, l.name])], hint: "Where the extra hours are." })),
    el("button", { type: "submit", text: "Add exception" }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form);
    const f = form.elements;
    const x = { kind: f.kind.value, start_date: f.start_date.value, end_date: f.end_date.value || f.start_date.value };
    if (f.start.value || f.end.value) Object.assign(x, { start: f.start.value, end: f.end.value });
    if (f.location_id.value) x.location_ids = [f.location_id.value];
    const problems = [];
    if (!x.start_date) problems.push({ path: "body.start_date", type: "missing" });
    if (x.end_date < x.start_date) problems.push({ path: "body.end_date", type: "before_start" });
    if (Boolean(f.start.value) !== Boolean(f.end.value)) problems.push({ path: "body.end", type: "both_times" });
    else if (x.start && x.end <= x.start) problems.push({ path: "body.end", type: "end_first" });
    if (x.kind === "extra" && !x.start) problems.push({ path: "body.start", type: "extra_times" });
    if (x.kind === "extra" && !x.location_ids) problems.push({ path: "body.location_id", type: "extra_location" });
    const words = {
      before_start: "The last day cannot be before the first.",
      both_times: "Give both times, or neither for whole days.",
      end_first: "The end time must be after the start time.",
      extra_times: "Extra hours need a start and an end time.",
      extra_location: "Choose where the extra hours are.",
      value_error: (p) => String(p.message || "This is not valid.").replace(/^Value error, /, ""),
    };
    if (problems.length) {
      showFormError(form, { details: { fields: problems } }, words);
      return;
    }
    busy(event.submitter, async () => {
      try {
        await save([...a.exceptions, x], `Added ${EXCEPTION_KIND[x.kind].toLowerCase()} ${x.start_date === x.end_date ? `on ${x.start_date}` : `from ${x.start_date} to ${x.end_date}`}.`);
      } catch (error) {
        if (error.code === "version_conflict") {
          await reload();
          showError("These hours changed meanwhile. They are reloaded: add the exception again.");
          return;
        }
        // The API names the exception by its index in the list: show it on the form's first field.
        const fields = ((error.details && error.details.fields) || []).map((p) => ({ ...p, path: "body.start_date" }));
        showFormError(form, fields.length ? { ...error, details: { fields } } : error, words);
      }
    });
  });
  return el("div", { class: "exceptions" },
    el("h3", { id: "exceptions-title", tabindex: "-1", text: `Time off and extra hours: ${who}` }),
    table("Exceptions", ["Kind", "Days", "Hours", "Location", ""], rows, "No exceptions: the weekly hours apply."),
    form);
}

async function fill(box, build) {
  const parts = await build(box);
  box.replaceChildren(box.querySelector("h2"), ...parts);
}

export async function render(view) {
  view.append(heading("Practice"));
  const parts = [
    ["practice.settings.update", "settings", "Settings", settingsPart],
    ["scheduling.catalogue.manage", "locations", "Locations", locationsPart],
    ["scheduling.catalogue.manage", "services", "Services and fees", servicesPart],
    ["availability.update", "hours", "Clinicians' hours", hoursPart],
  ];
  for (const [action, id, title, build] of parts) {
    if (!can(action)) continue;
    const box = el("section", { class: "card", "aria-labelledby": `${id}-title` }, el("h2", { id: `${id}-title`, text: title }));
    view.append(box);
    await fill(box, build);
  }
}

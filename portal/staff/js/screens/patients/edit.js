// Creating and editing a patient's record. Edits carry the version they were loaded at;
// if someone saved meanwhile (409) the form shows which fields changed and their saved
// values, keeps what was typed, and lets the person save again over the new version.
// Also here: the care team (add/remove) and the portal invitation.

import { call } from "../../../../shared/api.js";
import { can } from "../../permissions.js";
import { navigate } from "../../router.js";
import { announce, busy, clearErrors, el, field, heading, showFormError, table } from "../../ui.js";
import { patientName } from "./search.js";

const TEXT = [
  ["legal_first_name", "Legal first name", { maxlength: "80", required: true, autocomplete: "off" }],
  ["legal_last_name", "Legal last name", { maxlength: "80", required: true, autocomplete: "off" }],
  ["preferred_name", "Preferred name", { maxlength: "80", autocomplete: "off" }],
  ["pronouns", "Pronouns", { maxlength: "40", autocomplete: "off" }],
  ["date_of_birth", "Date of birth", { type: "date", required: true }],
  ["email", "Email", { type: "email", maxlength: "254", autocomplete: "off" }],
  ["phone", "Mobile phone", { type: "tel", autocomplete: "off" }],
];
const GROUPS = {
  address: ["Address", [["line1", "Street address"], ["line2", "Apartment, suite"], ["city", "City"], ["region", "State"], ["postal_code", "ZIP or postal code"], ["country", "Country code"]]],
  emergency_contact: ["Emergency contact", [["name", "Name"], ["relationship", "Relationship"], ["phone", "Phone"]]],
  insurance: ["Insurance", [["payer_name", "Payer"], ["payer_id", "Payer id"], ["member_id", "Member id"], ["group_number", "Group number"]]],
};
const LABELS = Object.fromEntries([
  ...TEXT.map(([k, l]) => [k, l]),
  ...Object.entries(GROUPS).map(([k, [l]]) => [k, l]),
  ["communication", "Reminder preferences"],
]);

function buildForm(p) {
  const form = el("form", { id: "patient-form", novalidate: true });
  for (const [name, label, attrs] of TEXT) {
    form.append(field(label, { name, ...attrs, value: (p && p[name]) || "" }, name === "phone" ? { hint: "With the country code, for example +1 555 555 0100." } : {}));
  }
  for (const [group, [legend, parts]] of Object.entries(GROUPS)) {
    const set = el("fieldset", { "data-group": group }, el("legend", { text: legend }));
    for (const [k, label] of parts) {
      const value = p && p[group] ? p[group][k] || "" : "";
      const box = field(label, { name: `${group}.${k}`, value, autocomplete: "off" });
      box.dataset.field = `${group}.${k}`;
      set.append(box);
    }
    form.append(set);
  }
  const c = (p && p.communication) || {};
  form.append(
    el("fieldset", {}, el("legend", { text: "Reminder preferences" }),
      el("div", { class: "check" }, el("input", { type: "checkbox", id: "pc-email", name: "communication.email_reminders", checked: Boolean(c.email_reminders) }), el("label", { for: "pc-email", text: "Email reminders" })),
      el("div", { class: "check" }, el("input", { type: "checkbox", id: "pc-sms", name: "communication.sms_reminders", checked: Boolean(c.sms_reminders) }), el("label", { for: "pc-sms", text: "Text message reminders" })),
      el("div", { class: "check" }, el("input", { type: "checkbox", id: "pc-name", name: "communication.reminder_may_name_service", checked: Boolean(c.reminder_may_name_service) }), el("label", { for: "pc-name", text: "Reminders may say what the visit is for (written permission on file)" }))),
  );
  return form;
}

function readForm(form, creating) {
  const body = {};
  for (const [name] of TEXT) {
    const v = form.elements[name].value.trim();
    if (v) body[name] = v;
    else if (!creating) body[name] = null;
  }
  for (const [group, [, parts]] of Object.entries(GROUPS)) {
    const values = {};
    for (const [k] of parts) {
      const v = form.elements[`${group}.${k}`].value.trim();
      if (v) values[k] = v;
    }
    if (Object.keys(values).length) body[group] = values;
  }
  body.communication = {
    email_reminders: form.elements["communication.email_reminders"].checked,
    sms_reminders: form.elements["communication.sms_reminders"].checked,
    reminder_may_name_service: form.elements["communication.reminder_may_name_service"].checked,
  };
  return body;
}

function differences(mine, saved) {
  const out = [];
  for (const key of Object.keys(LABELS)) {
    const a = mine[key] ?? null;
    let b = saved[key] ?? null;
    if (key === "communication" && b) b = { email_reminders: b.email_reminders, sms_reminders: b.sms_reminders, reminder_may_name_service: b.reminder_may_name_service };
    if (JSON.stringify(a) !== JSON.stringify(b)) out.push([LABELS[key], b === null ? "(empty)" : typeof b === "object" ? Object.values(b).filter((x) => x !== null && x !== "").join(", ") : String(b)]);
  }
  return out;
}

export async function render(view, { patientId }) {
  const creating = !patientId;
  let patient = creating ? null : await call("GET", `/v1/patients/${encodeURIComponent(patientId)}`);
  const form = buildForm(patient);
  const conflict = el("div", { id: "patient-conflict" });
  if (creating && (can("note.create") || can("appointment.book"))) {
    form.append(el("div", { class: "check" }, el("input", { type: "checkbox", id: "add-me", name: "add_me_to_care_team" }), el("label", { for: "add-me", text: "Add me to this patient's care team" })));
  }
  form.append(el("button", { type: "submit", text: creating ? "Create patient" : "Save changes" }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form);
    const body = readForm(form, creating);
    busy(event.submitter, async () => {
      try {
        if (creating) {
          if (form.elements.add_me_to_care_team && form.elements.add_me_to_care_team.checked) body.add_me_to_care_team = true;
          const made = await call("POST", "/v1/patients", body);
          navigate(`/patients/${made.id}`);
          announce(`Created ${patientName(made)}.`);
          return;
        }
        patient = await call("PATCH", `/v1/patients/${encodeURIComponent(patientId)}`, { ...body, version: patient.version });
        conflict.replaceChildren();
        announce("Changes saved.");
      } catch (error) {
        if (error.code === "version_conflict") {
          const saved = await call("GET", `/v1/patients/${encodeURIComponent(patientId)}`);
          const changed = differences(body, saved);
          patient = saved; // the next save goes over the version now stored
          conflict.replaceChildren(
            el("div", { class: "alert", role: "alert" },
              el("h2", { id: "conflict-title", tabindex: "-1", text: "Someone else changed this record" }),
              el("p", { text: "Your changes are still in the form and were not saved. These fields now hold, as saved:" }),
              table("Fields that differ from yours", ["Field", "Saved value"], changed, "No field differs."),
              el("p", { text: "Check them, then save again to keep yours." })),
          );
          conflict.querySelector("h2").focus();
          return;
        }
        showFormError(form, error, { string_pattern_mismatch: "This is not in the right format." });
      }
    });
  });
  view.append(
    el("p", { class: "crumbs" }, el("a", { href: creating ? "#/patients" : `#/patients/${patientId}`, text: creating ? "Patients" : patientName(patient) })),
    heading(creating ? "Add a patient" : `Edit ${patientName(patient)}`),
    conflict,
    form,
  );
  if (!creating) await extras(view, patient);
}

async function extras(view, patient) {
  const pid = patient.id;
  if (can("patient.care_team.update") || can("patient.read")) {
    const box = el("section", { class: "card", "aria-labelledby": "team-title" });
    const draw = async (message) => {
      const [team, people] = await Promise.all([
        call("GET", `/v1/patients/${pid}/care-team`),
        can("scheduling.clinicians.read") ? call("GET", "/v1/clinicians") : { items: [] },
      ]);
      const names = new Map(people.items.map((c) => [c.id, c.display_name]));
      const rows = team.user_ids.map((id) => {
        const name = names.get(id) || "Staff member";
        let action = "";
        if (can("patient.care_team.update")) {
          action = el("button", { type: "button", class: "quiet small", text: "Remove" }, el("span", { class: "visually-hidden", text: ` ${name}` }));
          action.addEventListener("click", () => busy(action, async () => {
            await call("POST", `/v1/patients/${pid}/care-team/${id}/remove`);
            await draw(`Removed ${name} from the care team.`);
          }));
        }
        return [name, action];
      });
      const parts = [el("h2", { id: "team-title", tabindex: "-1", text: "Care team" }), table("Care team", ["Name", ""], rows, "No one yet.")];
      if (can("patient.care_team.update")) {
        const choices = people.items.filter((c) => !team.user_ids.includes(c.id));
        if (choices.length) {
          const select = el("select", { id: "team-add" }, ...choices.map((c) => el("option", { value: c.id, text: c.display_name })));
          const add = el("button", { type: "button", class: "small", text: "Add to care team" });
          add.addEventListener("click", () => busy(add, async () => {
            await call("POST", `/v1/patients/${pid}/care-team`, { user_id: select.value });
            await draw(`Added ${select.selectedOptions[0].textContent} to the care team.`);
          }));
          parts.push(el("div", { class: "inline" }, el("label", { for: "team-add", text: "Add" }), select, add));
        }
      }
      box.replaceChildren(...parts);
      if (message) {
        announce(message);
        box.querySelector("h2").focus();
      }
    };
    await draw();
    view.append(box);
  }
  if (can("patient.portal_invite")) {
    const invite = el("button", { type: "button", class: "quiet", text: "Invite to the patient portal" });
    const out = el("div");
    invite.addEventListener("click", () => busy(invite, async () => {
      const r = await call("POST", `/v1/patients/${pid}/portal-invitation`, {});
      out.replaceChildren(
        el("p", { text: r.reissued ? "A new invitation replaced the earlier one. Give the patient this one-time code, privately:" : "Give the patient this one-time code, privately (in AWS it is emailed):" }),
        el("p", {}, el("code", { class: "secret", text: r.invitation_token })),
      );
      announce("Portal invitation created.");
    }));
    view.append(el("section", { class: "card", "aria-label": "Patient portal" }, el("h2", { text: "Patient portal" }), invite, out));
  }
}

// Acknowledging one risk flag: a note on what was done, then who and when are recorded
// (audited). Shared by the inbox and the patient's chart.

import { call } from "../../../../shared/api.js";
import { can } from "../../permissions.js";
import { announce, busy, el, formatWhen } from "../../ui.js";

export const FLAG_WORDS = { suicide_risk: "Possible suicide risk (item 9 above 0)" };

export function flagText(flag) {
  return flag.flags.map((f) => FLAG_WORDS[f] || f.replaceAll("_", " ")).join("; ");
}

/** The status cell: who acknowledged and when, or an Acknowledge button with its form. */
export function ackCell(flag, names, onDone) {
  if (flag.acknowledged_at) {
    const who = names.get(flag.acknowledged_by) || "a colleague";
    return el(
      "div",
      {},
      el("span", { class: "badge ok", text: "Acknowledged" }),
      el("p", { class: "hint", text: `By ${who}, ${formatWhen(flag.acknowledged_at, { dateStyle: "medium", timeStyle: "short" })}` }),
      flag.acknowledgement_note ? el("p", { text: flag.acknowledgement_note }) : null,
    );
  }
  const box = el("div", {}, el("span", { class: "badge danger", text: "Not acknowledged" }));
  if (!can("measure.flag.acknowledge")) return box;
  const noteId = `ack-note-${flag.id}`;
  const open = el("button", { type: "button", class: "small", text: "Acknowledge" });
  const form = el(
    "form",
    { hidden: true, class: "ack", "aria-label": "Acknowledge this flag" },
    el("label", { for: noteId, text: "What did you do? (optional)" }),
    el("textarea", { id: noteId, name: "note", maxlength: "1000", rows: "2" }),
    el("p", { class: "hint", text: "Your name and the time are recorded with the flag, and everyone it went to sees them." }),
    el("div", { class: "actions" },
      el("button", { type: "submit", class: "small", text: "Record acknowledgement" }),
      el("button", { type: "button", class: "quiet small", text: "Cancel" }),
    ),
  );
  const [submit, cancel] = form.querySelectorAll("button");
  open.addEventListener("click", () => {
    form.hidden = false;
    open.hidden = true;
    form.querySelector("textarea").focus();
  });
  cancel.addEventListener("click", () => {
    form.hidden = true;
    open.hidden = false;
    open.focus();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(submit, async () => {
      const note = form.elements.note.value.trim();
      try {
        await call("POST", `/v1/measure-flags/${encodeURIComponent(flag.id)}/acknowledge`, note ? { note } : {});
      } catch (error) {
        if (error.status === 409) await onDone("Someone acknowledged this flag meanwhile. The list is up to date.");
        throw error;
      }
      await onDone("Flag acknowledged.");
    });
  });
  box.append(open, form);
  return box;
}

/** Names of staff (for "acknowledged by"), when the role may list users; else ids stay. */
export async function staffNames() {
  const names = new Map();
  if (!can("user.list")) return names;
  try {
    const data = await call("GET", "/v1/users?limit=100");
    for (const u of data.items) names.set(u.id, u.display_name);
  } catch {
    /* names are a nicety */
  }
  return names;
}

export { announce };

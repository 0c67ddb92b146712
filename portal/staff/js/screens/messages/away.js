// My out of office: from when to when, and the colleague who covers my messages meanwhile
// (they see and answer patients' new messages to me; patients get an away notice). The
// times are entered in the practice's time zone.

import { call } from "../../../../shared/api.js";
import { current } from "../../session.js";
import { announce, busy, clearErrors, el, field, heading, showError, showFormError } from "../../ui.js";
import { zonedIso } from "../../zoned.js";
import { FIELD_WORDS, when } from "./common.js";

function zoneOfPractice() {
  return (current.practice && current.practice.timezone) || Intl.DateTimeFormat().resolvedOptions().timeZone;
}

function localParts(iso, zone) {
  if (!iso) return ["", ""];
  const p = {};
  for (const part of new Intl.DateTimeFormat("en-CA", { timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" }).formatToParts(new Date(iso))) p[part.type] = part.value;
  return [`${p.year}-${p.month}-${p.day}`, `${p.hour}:${p.minute}`];
}

export async function render(view) {
  const zone = zoneOfPractice();
  const box = el("div");

  async function draw(message) {
    const away = await call("GET", "/v1/me/out-of-office");
    const people = (await call("GET", "/v1/clinicians")).items.filter((c) => !current.me || c.id !== current.me.id);
    const [startDay, startTime] = localParts(away.start, zone);
    const [endDay, endTime] = localParts(away.end, zone);
    const form = el("form", { id: "away-form", novalidate: true, "aria-label": "Out of office" },
      el("div", { class: "row" },
        field("First day away", { name: "start_day", type: "date", value: startDay }),
        field("From (time)", { name: "start_time", type: "time", value: startTime || "00:00" })),
      el("div", { class: "row" },
        field("Back on", { name: "end_day", type: "date", value: endDay }),
        field("At (time)", { name: "end_time", type: "time", value: endTime || "09:00" })),
      field("Who covers your messages", { name: "delegate_id" }, { tag: "select", options: [["", "Choose a colleague"], ...people.map((c) => [c.id, c.display_name])] }),
      el("div", { class: "actions" }, el("button", { type: "submit", text: away.set ? "Save changes" : "Set out of office" })));
    if (away.delegate_id) form.elements.delegate_id.value = away.delegate_id;
    form.querySelector('[data-field="start_day"]').dataset.field = "start";
    form.querySelector('[data-field="end_day"]').dataset.field = "end";
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      clearErrors(form);
      const f = form.elements;
      if (!f.start_day.value || !f.end_day.value || !f.delegate_id.value) {
        showError("Choose the first day away, the day you are back and who covers.");
        return;
      }
      const body = {
        start: zonedIso(f.start_day.value, f.start_time.value || "00:00", zone),
        end: zonedIso(f.end_day.value, f.end_time.value || "09:00", zone),
        delegate_id: f.delegate_id.value,
      };
      if (away.version) body.version = away.version;
      busy(event.submitter, async () => {
        try {
          await call("PUT", "/v1/me/out-of-office", body);
        } catch (error) {
          if (error.code === "version_conflict") {
            await draw();
            showError("Your out of office changed meanwhile (another tab?). It is reloaded: check it and save again.");
            return;
          }
          showFormError(form, error, { ...FIELD_WORDS, value_error: "The end must be after the start." });
          return;
        }
        await draw("Out of office saved.");
      });
    });
    const parts = [
      el("p", { class: away.set ? "notice" : "hint", text: away.set
        ? `You are out of office from ${when(away.start)} to ${when(away.end)}. ${(people.find((c) => c.id === away.delegate_id) || { display_name: "A colleague" }).display_name} covers your messages.`
        : "You are not set as out of office." }),
      el("p", { class: "hint", text: `Times are in the practice's time zone (${zone}).` }),
      form,
    ];
    if (away.set) {
      const end = el("button", { type: "button", class: "quiet", text: "End out of office now" });
      end.addEventListener("click", () => busy(end, async () => {
        await call("DELETE", "/v1/me/out-of-office");
        await draw("Out of office ended. New messages come to you again.");
      }));
      parts.push(end);
    }
    box.replaceChildren(...parts);
    if (message) announce(message);
  }
  await draw();
  view.append(
    el("p", { class: "crumbs" }, el("a", { href: "#/messages", text: "Messages" })),
    heading("Out of office"),
    box,
  );
}

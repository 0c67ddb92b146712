// The privacy officer's list of disclosure flags: messages staff flagged as an
// inappropriate disclosure (wrong recipient, another person's health information). Each
// flagged message is withheld from every reader at once and has an incident opened for the
// privacy officer; here they see who flagged it, when and why, and open the review.

import { call } from "../../../../shared/api.js";
import { can } from "../../permissions.js";
import { announce, busy, el, heading, table } from "../../ui.js";
import { staffNames } from "../clinical/flag-ack.js";
import { REASONS, when } from "./common.js";

export const REASON_WORDS = Object.fromEntries(REASONS);

export async function render(view) {
  const names = await staffNames();
  let cursor = null;
  const rows = [];
  const box = el("section", { "aria-labelledby": "flags-title" });
  const more = el("button", { type: "button", class: "quiet", text: "Show more", hidden: true });
  async function page(first) {
    const q = new URLSearchParams({ limit: "25" });
    if (!first && cursor) q.set("cursor", cursor);
    const data = await call("GET", `/v1/message-flags?${q}`);
    if (first) rows.length = 0;
    rows.push(...data.items.map((f) => [
      el("a", { href: `#/messages/flags/${f.id}`, text: when(f.flagged_at) }),
      REASON_WORDS[f.reason] || f.reason,
      names.get(f.flagged_by) || "A staff member",
      f.note || "",
      f.incident_id ? "Incident opened" : "",
    ]));
    cursor = data.next_cursor;
    more.hidden = !cursor;
    box.replaceChildren(
      el("h2", { id: "flags-title", tabindex: "-1", text: `${rows.length}${cursor ? "+" : ""} flagged` }),
      table("Flagged messages, newest first", ["Flagged", "Why", "By", "Their note", "Incident"], rows, "No message has been flagged."),
      more,
    );
  }
  more.addEventListener("click", () => busy(more, async () => {
    await page(false);
    announce("More shown.");
  }));
  await page(true);
  view.append(
    heading("Disclosure flags"),
    el("p", { class: "notice", text: "A flagged message is withheld from everyone, the patient included, until you have reviewed it. Open a flag to read the message and assess the incident." }),
    can("message.retention.read") ? el("p", {}, el("a", { href: "#/messages/retention", text: "Retention review" })) : null,
    box,
  );
}

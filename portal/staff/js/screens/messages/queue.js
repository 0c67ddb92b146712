// The practice queue: patient messages nobody answered within the practice's expected
// response time (moved here by the scheduled sweep). Whoever works the queue opens one and
// answers it; the conversation then shows in their inbox too ("answered from the queue").

import { call } from "../../../../shared/api.js";
import { announce, busy, el, heading, table } from "../../ui.js";
import { when } from "./common.js";

export async function render(view) {
  let cursor = null;
  const rows = [];
  const box = el("section", { "aria-labelledby": "queue-title" });
  const more = el("button", { type: "button", class: "quiet", text: "Show more", hidden: true });

  async function page(first) {
    const q = new URLSearchParams({ limit: "25" });
    if (!first && cursor) q.set("cursor", cursor);
    const data = await call("GET", `/v1/message-queue?${q}`);
    if (first) rows.length = 0;
    rows.push(...data.items.map((t) => [
      el("a", { href: `#/messages/threads/${t.id}`, text: t.subject }),
      t.patient_name,
      t.awaiting_reply_since ? when(t.awaiting_reply_since) : "",
      t.escalated_at ? when(t.escalated_at) : "",
    ]));
    cursor = data.next_cursor;
    more.hidden = !cursor;
    box.replaceChildren(
      el("h2", { id: "queue-title", tabindex: "-1", text: `${rows.length}${cursor ? "+" : ""} waiting` }),
      table("Unanswered patient messages, longest waiting first", ["Subject", "Patient", "Waiting since", "Escalated"], rows,
        "Nothing is waiting: every patient message was answered in time."),
      more,
    );
  }
  more.addEventListener("click", () => busy(more, async () => {
    await page(false);
    announce("More shown.");
  }));
  await page(true);
  view.append(
    heading("Message queue"),
    el("p", { class: "notice", text: "A patient message moves here when nobody answered it within the practice's expected response time. Open it, read it and answer: the patient's care team sees your answer." }),
    box,
  );
}

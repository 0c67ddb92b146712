// The retention review: conversations past the practice's retention period and not on
// legal hold, listed by the daily job for someone to review. Nothing is deleted
// automatically; messages are part of the record.

import { call } from "../../../../shared/api.js";
import { announce, busy, el, heading, table } from "../../ui.js";
import { when } from "./common.js";

export async function render(view) {
  let cursor = null;
  const rows = [];
  const box = el("section", { "aria-labelledby": "retention-title" });
  const more = el("button", { type: "button", class: "quiet", text: "Show more", hidden: true });
  async function page(first) {
    const q = new URLSearchParams({ limit: "25" });
    if (!first && cursor) q.set("cursor", cursor);
    const data = await call("GET", `/v1/message-retention-review?${q}`);
    if (first) rows.length = 0;
    rows.push(...data.items.map((i) => [i.thread_id, when(i.retain_until), when(i.listed_at)]));
    cursor = data.next_cursor;
    more.hidden = !cursor;
    box.replaceChildren(
      el("h2", { id: "retention-title", tabindex: "-1", text: `${rows.length}${cursor ? "+" : ""} past retention` }),
      table("Conversations past retention, for review", ["Conversation", "Kept until", "Listed"], rows, "Nothing is past retention."),
      more,
    );
  }
  more.addEventListener("click", () => busy(more, async () => {
    await page(false);
    announce("More shown.");
  }));
  await page(true);
  view.append(
    heading("Message retention review"),
    el("p", { class: "hint", text: "Messages are kept at least as long as the practice's retention period after a conversation's last activity, and never while on legal hold. Nothing here is deleted automatically." }),
    box,
  );
}

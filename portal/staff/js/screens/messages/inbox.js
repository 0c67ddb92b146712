// My inbox: the threads I take part in (or cover as a delegate, or answered from the
// queue), most recent first, one page per request (one store query on the server); how
// many have unread messages; my saved drafts; my out-of-office state. A new conversation
// starts from the patient's record (it needs the patient), so there is a link to search.

import { call } from "../../../../shared/api.js";
import { can } from "../../permissions.js";
import { announce, busy, el, heading, table } from "../../ui.js";
import { when } from "./common.js";

const VIA = { delegate: "Covering for a colleague", queue: "Answered from the queue" };

function status(item) {
  const parts = [];
  if (item.unread) parts.push(el("span", { class: "badge warn", text: `${item.unread} new` }));
  if (item.escalated) parts.push(el("span", { class: "badge danger", text: "Escalated" }));
  else if (item.awaiting_reply) parts.push(el("span", { class: "badge", text: "Awaiting reply" }));
  if (VIA[item.via]) parts.push(el("span", { class: "hint", text: ` ${VIA[item.via]}` }));
  if (parts.length) return el("div", {}, ...parts);
  return item.kind === "staff" ? "" : "Answered";
}

function row(item) {
  const from = { patient: "Patient", proxy: "Patient's proxy" }[item.last_author_kind] || item.last_author_name || "Practice";
  return [
    el("a", { href: `#/messages/threads/${item.thread_id}`, text: item.subject }),
    item.patient_name,
    item.kind === "staff" ? "Staff only" : "With the patient",
    `${from}, ${when(item.last_message_at)}`,
    status(item),
  ];
}

async function draftsPart() {
  const data = await call("GET", "/v1/me/message-drafts?limit=25");
  if (!data.items.length) return [];
  const rows = data.items.map((d) => {
    const target = d.thread_id ? `#/messages/threads/${d.thread_id}` : `#/messages/new/${d.patient_id}?draft=${d.id}`;
    return [
      el("a", { href: target, text: d.subject || (d.thread_id ? "Reply" : "New message") }),
      d.thread_id ? "Reply in a conversation" : "New conversation",
      when(d.updated_at),
    ];
  });
  return [
    el("h2", { text: "Drafts" }),
    table("Your drafts (only you can see them), newest first", ["Subject", "Kind", "Saved"], rows),
  ];
}

async function awayNotice() {
  if (!can("message.out_of_office")) return null;
  const away = await call("GET", "/v1/me/out-of-office");
  const link = el("a", { href: "#/messages/away", text: away.set ? "Change or end it" : "Set out of office" });
  if (!away.set) return el("p", {}, link);
  return el("p", { class: "notice" }, `You are out of office from ${when(away.start)} to ${when(away.end)}; a colleague covers your messages. `, link);
}

export async function render(view) {
  let cursor = null;
  const rows = [];
  const listBox = el("section", { "aria-labelledby": "inbox-title" });
  const more = el("button", { type: "button", class: "quiet", text: "Show more conversations", hidden: true });

  async function page(first) {
    const q = new URLSearchParams({ limit: "25" });
    if (!first && cursor) q.set("cursor", cursor);
    const data = await call("GET", `/v1/me/inbox?${q}`);
    if (first) rows.length = 0;
    rows.push(...data.items.map(row));
    cursor = data.next_cursor;
    more.hidden = !cursor;
    const unread = await call("GET", "/v1/me/inbox/unread");
    const count = unread.more ? "99 or more" : String(unread.unread_threads);
    listBox.replaceChildren(
      el("h2", { id: "inbox-title", tabindex: "-1", text: `${count} with unread messages` }),
      table("Your conversations, most recent first", ["Subject", "Patient", "With", "Last message", "Status"], rows,
        "No conversations yet. Patients' messages to their care team, and colleagues' threads about a patient, appear here."),
      more,
    );
  }
  more.addEventListener("click", () => busy(more, async () => {
    const before = rows.length;
    await page(false);
    announce(`${rows.length - before} more conversations.`);
  }));

  await page(true);
  const links = [];
  if (can("message.queue.read")) links.push(el("a", { href: "#/messages/queue", text: "Practice queue" }));
  if (can("message.thread.create") && can("patient.search")) {
    links.push(el("a", { href: "#/patients", text: "Write to a patient (open their record)" }));
  }
  const parts = [
    heading("Messages"),
    el("p", { class: "hint", text: "Secure messages are part of the patient's record. Never use personal email or text for a patient's health information." }),
    await awayNotice(),
    links.length ? el("p", { class: "actions" }, ...links) : null,
    listBox,
    ...(await draftsPart()),
  ];
  view.append(...parts.filter(Boolean));
}

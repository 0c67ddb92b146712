// "Messages": secure conversations with the care team. The list is the patient's inbox
// (one page per request); a conversation shows every message, its files (downloaded on
// demand, like documents) and whether the care team has read it. Writing outside office
// hours shows the practice's auto-reply before sending, and the reply itself arrives in the
// conversation. Everything is set as text, never markup.

import { call } from "../shared/api.js";
import { $, announce, busy, el, formatWhen, showError } from "./ui.js";

const MAX_FILE = 4 * 1024 * 1024;
const KINDS = ["application/pdf", "image/png", "image/jpeg", "text/plain"];
const KEEP_URL_MS = 60_000;
let cursor = null;
let current = null; // the open thread
let draft = null; // the new-conversation draft being edited, if any
let status = null;

function when(iso) {
  return formatWhen(iso, { dateStyle: "medium", timeStyle: "short" });
}

// ---- the list ----------------------------------------------------------------------------

function inboxItem(entry) {
  const from = { patient: "You", proxy: "your parent, guardian or representative" }[entry.last_author_kind] ||
    entry.last_author_name || "The practice";
  const unread = entry.unread
    ? el("span", { class: "badge", text: `${entry.unread} new` })
    : null;
  return el(
    "li",
    { class: "appt" },
    el("p", { class: "when" }, el("span", { text: entry.subject }), unread),
    el("p", { text: `Last message from ${from}, ${when(entry.last_message_at)}.` }),
    el(
      "button",
      { type: "button", class: "quiet", onclick: (e) => busy(e.currentTarget, () => openThread(entry.thread_id)) },
      "Open",
      el("span", { class: "visually-hidden", text: ` conversation: ${entry.subject}` }),
    ),
  );
}

async function page(first) {
  const q = new URLSearchParams({ limit: "25" });
  if (!first && cursor) q.set("cursor", cursor);
  const data = await call("GET", `/v1/me/inbox?${q}`);
  const list = $("inbox-list");
  const items = data.items.map(inboxItem);
  if (first) list.replaceChildren(...items);
  else list.append(...items);
  cursor = data.next_cursor;
  $("inbox-more").hidden = !cursor;
  $("inbox-empty").hidden = list.children.length > 0;
  const unread = data.items.filter((i) => i.unread > 0).length;
  $("messages-link").textContent = unread ? `Messages (${unread} new)` : "Messages";
}

function officeNotice() {
  const notice = $("messages-office");
  if (!status || status.open_now) {
    notice.hidden = true;
    return;
  }
  const opens = status.next_open_at ? ` The office opens ${when(status.next_open_at)}.` : "";
  notice.textContent = `The office is closed now.${opens} ${status.auto_reply_text}`;
  notice.hidden = false;
}

export async function loadMessages() {
  cursor = null;
  status = await call("GET", "/v1/me/messaging");
  officeNotice();
  const to = $("compose-to");
  to.replaceChildren(
    el("option", { value: "", text: "My care team" }),
    ...status.recipients.map((r) =>
      el("option", { value: r.id, text: r.credentials ? `${r.display_name}, ${r.credentials}` : r.display_name }),
    ),
  );
  await page(true);
}

export function resetMessages() {
  current = null;
  draft = null;
  cursor = null;
  status = null;
  $("inbox-list").replaceChildren();
  $("thread-messages").replaceChildren();
  $("compose-form").reset();
  $("reply-form").reset();
  showList();
}

// ---- files ------------------------------------------------------------------------------

function readFile(input) {
  const file = input.files && input.files[0];
  if (!file) return Promise.resolve([]);
  if (!KINDS.includes(file.type)) {
    return Promise.reject(new Error("That kind of file cannot be sent. Use PDF, PNG, JPEG or plain text."));
  }
  if (file.size > MAX_FILE) return Promise.reject(new Error("That file is over 4 MB."));
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => {
      const text = String(reader.result);
      resolve([{ filename: file.name.slice(0, 200), content_type: file.type, content_base64: text.slice(text.indexOf(",") + 1) }]);
    };
    reader.onerror = () => reject(new Error("The file could not be read."));
    reader.readAsDataURL(file);
  });
}

function toBytes(base64) {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

async function download(file) {
  const data = await call("GET", `/v1/message-attachments/${encodeURIComponent(file.id)}/content`);
  const url = URL.createObjectURL(new Blob([toBytes(data.content_base64)], { type: data.content_type }));
  const link = el("a", { href: url, download: data.filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), KEEP_URL_MS);
  announce(`Downloading ${data.filename}.`);
}

// ---- a conversation ---------------------------------------------------------------------

function showList() {
  $("inbox-view").hidden = false;
  $("compose-form").hidden = true;
  $("thread-view").hidden = true;
}

function messageItem(message, readByTeam) {
  const who = {
    patient: "You",
    staff: message.author_name,
    system: `${message.author_name} (automatic reply)`,
    proxy: `${message.author_name} (for you, as your proxy)`,
  }[
    message.author_kind
  ];
  const parts = [el("p", { class: "when", text: `${who}, ${when(message.sent_at)}` })];
  if (message.restricted) {
    parts.push(el("p", { text: "This message has been withheld while the practice reviews it." }));
  } else {
    parts.push(el("p", { class: "message-body", text: message.body }));
    for (const file of message.attachments) {
      parts.push(
        el(
          "button",
          { type: "button", class: "quiet", onclick: (e) => busy(e.currentTarget, () => download(file)) },
          "Download",
          el("span", { class: "visually-hidden", text: ` attachment` }),
          ` ${file.filename}`,
        ),
      );
    }
  }
  if (readByTeam) parts.push(el("p", { class: "hint", text: `Read by your care team ${when(readByTeam)}.` }));
  return el("li", { class: "appt" }, ...parts);
}

function renderThread(thread) {
  current = thread;
  $("thread-title").textContent = thread.subject;
  const staff = thread.participants.filter((p) => p.side === "staff").map((p) => p.display_name);
  $("thread-people").textContent = staff.length ? `With ${staff.join(", ")}.` : "";
  // The care team has read a message of yours when a staff receipt reaches it or later.
  const order = new Map(thread.messages.map((m, i) => [m.id, i]));
  let readUpTo = -1;
  let readAt = null;
  for (const receipt of thread.read_receipts) {
    const index = order.has(receipt.message_id) ? order.get(receipt.message_id) : -1;
    if (index > readUpTo) {
      readUpTo = index;
      readAt = receipt.read_at;
    }
  }
  const lastMine = thread.messages.map((m) => m.author_kind).lastIndexOf("patient");
  $("thread-messages").replaceChildren(
    ...thread.messages.map((m, i) => messageItem(m, i === lastMine && readUpTo >= lastMine ? readAt : null)),
  );
}

async function openThread(threadId) {
  const thread = await call("GET", `/v1/threads/${encodeURIComponent(threadId)}?limit=100`);
  renderThread(thread);
  $("inbox-view").hidden = true;
  $("compose-form").hidden = true;
  $("thread-view").hidden = false;
  $("thread-title").focus();
  const last = thread.messages[thread.messages.length - 1];
  if (last) await call("POST", `/v1/threads/${encodeURIComponent(threadId)}/read`, { message_id: last.id });
  announce(`Opened the conversation ${thread.subject}.`);
}

async function sendReply(event) {
  event.preventDefault();
  const body = $("reply-body").value;
  if (!body.trim()) throw new Error("Write your reply first.");
  const attachments = await readFile($("reply-file"));
  const sent = await call("POST", `/v1/threads/${encodeURIComponent(current.id)}/messages`, { body, attachments });
  $("reply-form").reset();
  await openThread(current.id);
  announce(sent.automatic.length ? "Reply sent. The practice sent an automatic reply." : "Reply sent.");
}

// ---- a new conversation -----------------------------------------------------------------

async function openCompose() {
  // The saved draft is fetched before the form shows, so nothing typed is overwritten.
  const drafts = await call("GET", "/v1/me/message-drafts?limit=10");
  draft = drafts.items.find((d) => d.thread_id === null) || null;
  $("compose-subject").value = draft ? draft.subject : "";
  $("compose-body").value = draft ? draft.body : "";
  $("inbox-view").hidden = true;
  $("thread-view").hidden = true;
  $("compose-form").hidden = false;
  $("compose-title").focus();
  if (draft) announce("Your saved draft is back in the form.");
}

function composed() {
  return { subject: $("compose-subject").value, body: $("compose-body").value };
}

async function saveDraft() {
  const { subject, body } = composed();
  if (draft) {
    draft = await call("PATCH", `/v1/message-drafts/${encodeURIComponent(draft.id)}`, {
      subject,
      body,
      version: draft.version,
    });
  } else {
    draft = await call("POST", "/v1/message-drafts", { subject, body });
  }
  announce("Draft saved. Only you can see it.");
}

async function sendNew(event) {
  event.preventDefault();
  const { subject, body } = composed();
  if (!subject.trim() || !body.trim()) throw new Error("Write a subject and a message first.");
  const attachments = await readFile($("compose-file"));
  const to = $("compose-to").value;
  const payload = { subject, body, attachments };
  if (to) payload.recipient_ids = [to];
  if (draft) payload.draft_id = draft.id;
  const sent = await call("POST", "/v1/threads", payload);
  draft = null;
  $("compose-form").reset();
  await page(true);
  await openThread(sent.thread_id);
  announce(
    sent.automatic.length
      ? "Message sent. The office is closed: read the automatic reply below."
      : "Message sent to your care team.",
  );
}

function guarded(handler) {
  return (event) => {
    const button = event.submitter || event.currentTarget;
    busy(button, async () => {
      try {
        await handler(event);
      } catch (error) {
        if (error instanceof Error && !("status" in error)) {
          showError(error.message);
          return;
        }
        throw error;
      }
    });
  };
}

export function setUpMessages() {
  $("compose-open").addEventListener("click", (e) => busy(e.currentTarget, openCompose));
  $("compose-cancel").addEventListener("click", () => {
    showList();
    $("compose-open").focus();
  });
  $("compose-draft").addEventListener("click", (e) => busy(e.currentTarget, saveDraft));
  $("compose-form").addEventListener("submit", (e) => {
    e.preventDefault();
    guarded(sendNew)(e);
  });
  $("reply-form").addEventListener("submit", (e) => {
    e.preventDefault();
    guarded(sendReply)(e);
  });
  $("thread-back").addEventListener("click", (e) =>
    busy(e.currentTarget, async () => {
      await page(true);
      showList();
      $("inbox-title").focus();
    }),
  );
  $("inbox-more").addEventListener("click", (e) => busy(e.currentTarget, () => page(false)));
}

// One conversation: every message oldest first (with its files, downloaded on demand), who
// has read what, and the actions the role holds: reply with a file (a draft is kept for
// later), flag a message as an inappropriate disclosure (withheld at once, an incident
// opens for the privacy officer), file the conversation into the chart, legal hold.
// Opening it sends the read receipt. Every read and action is authorised and audited by
// the API; a role or relationship that may not see the thread gets 404 or 403.

import { call } from "../../../../shared/api.js";
import { can } from "../../permissions.js";
import { guardLeave } from "../../router.js";
import { announce, busy, clearErrors, el, field, heading, showError, showFormError } from "../../ui.js";
import { FIELD_WORDS, KINDS, REASONS, download, plainOr, readFile, when } from "./common.js";

function authorLine(m, thread) {
  if (m.author_kind === "system") return `${m.author_name} (automatic)`;
  if (m.author_kind === "patient") return `${m.author_name} (patient)`;
  // A guardian or other representative writing for the patient (proxy access).
  if (m.author_kind === "proxy") return `Written by ${m.author_name} for ${thread.patient_name}`;
  return m.author_name;
}

/** Who has read each message: a receipt covers its message and everything before it. */
function readers(thread) {
  const order = new Map(thread.messages.map((m, i) => [m.id, i]));
  const names = new Map(thread.participants.map((p) => [p.id, p.display_name]));
  const byIndex = new Map();
  for (const r of thread.read_receipts) {
    if (!order.has(r.message_id)) continue;
    const i = order.get(r.message_id);
    if (!byIndex.has(i)) byIndex.set(i, []);
    byIndex.get(i).push(`${names.get(r.user_id) || "A colleague"} (${when(r.read_at)})`);
  }
  return byIndex;
}

function flagForm(thread, message, onDone) {
  const open = el("button", { type: "button", class: "quiet small", text: "Flag as a disclosure" },
    el("span", { class: "visually-hidden", text: ` (message from ${message.author_name}, ${when(message.sent_at)})` }));
  const form = el("form", { class: "inline-form", novalidate: true, hidden: true, "aria-label": "Flag this message" },
    el("p", { class: "hint", text: "Flagging withholds the message from everyone at once and opens an incident for the privacy officer." }),
    field("Why", { name: "reason" }, { tag: "select", options: REASONS }),
    field("What happened (optional)", { name: "note", maxlength: "2000", rows: "2" }, { tag: "textarea" }),
    el("div", { class: "actions" },
      el("button", { type: "submit", class: "danger", text: "Flag and withhold" }),
      el("button", { type: "button", class: "quiet", text: "Cancel", onclick: () => { form.hidden = true; open.hidden = false; open.focus(); } })),
  );
  open.addEventListener("click", () => {
    open.hidden = true;
    form.hidden = false;
    form.elements.reason.focus();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form);
    const note = form.elements.note.value.trim();
    busy(event.submitter, async () => {
      try {
        await call("POST", `/v1/threads/${thread.id}/messages/${message.id}/flag`, { reason: form.elements.reason.value, note: note || null });
      } catch (error) {
        showFormError(form, error, FIELD_WORDS);
        return;
      }
      await onDone("Message flagged and withheld. The privacy officer has an incident to review.");
    });
  });
  return el("div", {}, open, form);
}

function messageItem(thread, m, readBy, redraw) {
  const parts = [el("p", { class: "when" }, el("strong", { text: authorLine(m, thread) }), `, ${when(m.sent_at)}`)];
  if (m.restricted) {
    parts.push(el("p", { class: "notice", text: `Withheld since ${when(m.restricted_at)}: flagged as an inappropriate disclosure, under the privacy officer's review.` }));
  } else {
    parts.push(el("p", { class: "message-body", text: m.body }));
    for (const file of m.attachments) {
      const b = el("button", { type: "button", class: "quiet small" }, "Download",
        el("span", { class: "visually-hidden", text: " attachment" }), ` ${file.filename}`);
      b.addEventListener("click", () => busy(b, () => download(file)));
      parts.push(el("p", {}, b));
    }
    if (can("message.flag") && m.author_kind !== "system") parts.push(flagForm(thread, m, redraw));
  }
  if (readBy) parts.push(el("p", { class: "hint", text: `Read by ${readBy.join(", ")}.` }));
  return el("li", { class: "message" }, ...parts);
}

function facts(thread) {
  const rows = [];
  const add = (term, value) => value && rows.push(el("dt", { text: term }), el("dd", {}, value));
  const people = thread.participants.map((p) => {
    if (p.side === "patient") return `${p.display_name} (patient)`;
    if (p.side === "proxy") return `${p.display_name} (for the patient, as proxy)`;
    return p.covering_for ? `${p.display_name} (covering)` : p.display_name;
  });
  add("Patient", can("patient.read") ? el("a", { href: `#/patients/${thread.patient_id}`, text: thread.patient_name }) : thread.patient_name);
  add("Kind", thread.kind === "staff" ? "Staff only (the patient does not see it)" : "With the patient");
  add("People", people.join(", "));
  add("Started", when(thread.created_at));
  if (thread.escalated_at) add("Status", el("span", { class: "badge danger", text: `Escalated to the practice queue ${when(thread.escalated_at)}` }));
  else if (thread.awaiting_reply_since) add("Status", el("span", { class: "badge", text: `Awaiting a reply since ${when(thread.awaiting_reply_since)}` }));
  if (thread.legal_hold) add("Legal hold", `Since ${when(thread.legal_hold.set_at)}: ${thread.legal_hold.reason}`);
  if (thread.filed_document_ids.length) add("Filed in the chart", `${thread.filed_document_ids.length} time(s)`);
  if (thread.kind === "patient") add("Proxies", thread.proxy_visible ? "Shared with the patient's proxies (guardians)" : "Not shared with proxies");
  return el("dl", { class: "facts" }, ...rows);
}

function recordPart(thread, redraw) {
  const parts = [];
  if (can("message.file")) {
    const form = el("form", { id: "file-form", class: "row", novalidate: true, "aria-label": "File into the chart" },
      field("Document title", { name: "title", maxlength: "200", value: `Messages: ${thread.subject}`.slice(0, 200), autocomplete: "off" }),
      el("div", {}, el("button", { type: "submit", text: "File into the chart" })));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      clearErrors(form);
      const title = form.elements.title.value.trim();
      busy(event.submitter, async () => {
        try {
          await call("POST", `/v1/threads/${thread.id}/file`, { title: title || null });
        } catch (error) {
          showFormError(form, error, FIELD_WORDS);
          return;
        }
        await redraw(`Filed into the chart as the document "${title || thread.subject}".`);
      });
    });
    parts.push(el("p", { class: "hint", text: "Filing keeps a PDF of the whole conversation in the patient's documents. The conversation itself stays too." }), form);
  }
  if (can("message.legal_hold")) {
    const holding = !thread.legal_hold;
    const form = el("form", { id: "hold-form", class: "row", novalidate: true, "aria-label": holding ? "Place a legal hold" : "Release the legal hold" },
      holding ? field("Reason for the hold", { name: "reason", maxlength: "500", autocomplete: "off" }) : null,
      el("div", {}, el("button", { type: "submit", class: holding ? "" : "quiet", text: holding ? "Place a legal hold" : "Release the legal hold" })));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      clearErrors(form);
      const body = { hold: holding, version: thread.version };
      const words = { missing: "Give a reason for the hold." };
      if (holding) {
        body.reason = form.elements.reason.value.trim();
        if (!body.reason) {
          showFormError(form, { code: "validation_failed", details: { fields: [{ path: "body.reason", type: "missing" }] } }, words);
          return;
        }
      }
      busy(event.submitter, async () => {
        try {
          await call("POST", `/v1/threads/${thread.id}/legal-hold`, body);
        } catch (error) {
          if (error.code === "version_conflict") {
            await redraw("The conversation changed meanwhile and is reloaded. Try again.");
            return;
          }
          showFormError(form, error, words);
          return;
        }
        await redraw(holding ? "Legal hold placed: nothing in this conversation can be removed, even after retention." : "Legal hold released.");
      });
    });
    parts.push(form);
  }
  if (can("message.proxy_share") && thread.kind === "patient") {
    // Proxy access: a patient's own conversations are not shared with their guardians
    // until a clinician decides they may be (docs/security/proxy-access.md).
    const share = el("button", { type: "button", id: "proxy-share", class: "quiet", text: thread.proxy_visible ? "Stop sharing with the patient's proxies" : "Share with the patient's proxies" });
    share.addEventListener("click", () => busy(share, async () => {
      try {
        await call("PUT", `/v1/threads/${thread.id}/proxy-visibility`, { visible: !thread.proxy_visible, version: thread.version });
      } catch (error) {
        if (error.code === "version_conflict") {
          await redraw("The conversation changed meanwhile and is reloaded. Try again.");
          return;
        }
        throw error;
      }
      await redraw(thread.proxy_visible ? "No longer shared with the patient's proxies." : "Shared with the patient's proxies: they can read it and write in it.");
    }));
    parts.push(share);
  }
  if (!parts.length) return null;
  return el("section", { class: "card", "aria-labelledby": "record-title" }, el("h2", { id: "record-title", text: "Record keeping" }), ...parts);
}

export async function render(view, { threadId }) {
  const path = `/v1/threads/${encodeURIComponent(threadId)}`;
  const drafts = can("message.draft") ? await call("GET", "/v1/me/message-drafts?limit=50") : { items: [] };
  let draft = drafts.items.find((d) => d.thread_id === threadId) || null;
  let dirty = false;
  let thread = await call("GET", `${path}?limit=100`);
  let earlier = [];
  const content = el("div");
  const title = heading(thread.subject);

  const replyForm = can("message.send")
    ? el("form", { id: "reply-form", novalidate: true, "aria-labelledby": "reply-title" },
        el("h2", { id: "reply-title", text: "Reply" }),
        field("Message", { name: "body", rows: "5", maxlength: "20000" }, { tag: "textarea", hint: thread.kind === "staff" ? "Only the colleagues in this conversation see it." : "The patient gets a notice that a message is waiting, never its text." }),
        field("Attach a file (optional)", { name: "file", type: "file", accept: KINDS.join(",") }, { hint: "PDF, PNG, JPEG or plain text; at most 4 MB." }),
        el("div", { class: "actions" },
          el("button", { type: "submit", text: "Send reply" }),
          can("message.draft") ? el("button", { type: "button", class: "quiet", id: "save-draft", text: "Save draft" }) : null))
    : null;

  async function redraw(message) {
    thread = await call("GET", `${path}?limit=100`);
    earlier = [];
    draw();
    if (message) announce(message);
  }

  function draw() {
    const all = [...earlier, ...thread.messages];
    const readBy = readers({ ...thread, messages: all });
    const list = el("ol", { class: "messages", "aria-label": "Messages, oldest first" },
      ...all.map((m, i) => messageItem(thread, m, readBy.get(i), redraw)));
    const more = thread.earlier_cursor && !earlier.length
      ? el("button", { type: "button", class: "quiet", text: "Show earlier messages" })
      : null;
    if (more) {
      more.addEventListener("click", () => busy(more, async () => {
        const page = await call("GET", `${path}?limit=100&cursor=${encodeURIComponent(thread.earlier_cursor)}`);
        earlier = page.messages;
        draw();
        announce(`${page.messages.length} earlier messages shown.`);
      }));
    }
    content.replaceChildren(facts(thread), more || "", list, recordPart(thread, redraw) || "");
  }

  draw();
  if (replyForm) {
    if (draft) replyForm.elements.body.value = draft.body;
    replyForm.elements.body.addEventListener("input", () => (dirty = true));
    const saveDraft = async () => {
      const body = replyForm.elements.body.value;
      draft = draft
        ? await call("PATCH", `/v1/message-drafts/${draft.id}`, { body, version: draft.version })
        : await call("POST", "/v1/message-drafts", { thread_id: thread.id, body });
      dirty = false;
    };
    const saveButton = replyForm.querySelector("#save-draft");
    if (saveButton) {
      saveButton.addEventListener("click", () => busy(saveButton, async () => {
        try {
          await saveDraft();
        } catch (error) {
          if (error.code === "version_conflict") {
            draft = (await call("GET", "/v1/me/message-drafts?limit=50")).items.find((d) => d.thread_id === threadId) || null;
            showError("The draft was changed elsewhere (another tab?). Your text is still here: save again to keep it.");
            return;
          }
          throw error;
        }
        announce("Draft saved. Only you can see it.");
      }));
    }
    replyForm.addEventListener("submit", (event) => {
      event.preventDefault();
      clearErrors(replyForm);
      const body = replyForm.elements.body.value;
      busy(event.submitter, async () => {
        let attachments;
        try {
          if (!body.trim()) throw new Error("Write your reply first.");
          attachments = await readFile(replyForm.elements.file);
        } catch (error) {
          if (plainOr(error, showError)) return;
          throw error;
        }
        const payload = { body, attachments };
        if (draft) payload.draft_id = draft.id;
        try {
          await call("POST", `${path}/messages`, payload);
        } catch (error) {
          showFormError(replyForm, error, FIELD_WORDS);
          return;
        }
        draft = null;
        dirty = false;
        replyForm.reset();
        await redraw("Reply sent.");
        await markRead();
        const last = content.querySelector("ol.messages li:last-child");
        if (last) {
          last.setAttribute("tabindex", "-1");
          last.focus();
        }
      });
    });
  }

  async function markRead() {
    const last = thread.messages[thread.messages.length - 1];
    if (last) await call("POST", `${path}/read`, { message_id: last.id });
  }

  await markRead();
  guardLeave(() => !dirty || window.confirm("Your reply is not sent or saved. Leave anyway?"));
  const crumbs = el("p", { class: "crumbs" }, el("a", { href: "#/messages", text: "Messages" }));
  view.append(crumbs, title, content);
  if (replyForm) view.append(replyForm);
  if (draft) announce("Your saved draft is back in the reply box.");
}

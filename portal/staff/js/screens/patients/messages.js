// The patient's secure conversations in the chart (messages are part of the record), with
// a link to write a new one. Each list is authorised and audited by the API.

import { call } from "../../../../shared/api.js";
import { can } from "../../permissions.js";
import { el, formatWhen, table } from "../../ui.js";

export async function messagesPart(patientId) {
  const data = await call("GET", `/v1/patients/${encodeURIComponent(patientId)}/threads?limit=25`);
  const rows = data.items.map((t) => [
    can("message.read") ? el("a", { href: `#/messages/threads/${t.id}`, text: t.subject }) : t.subject,
    t.kind === "staff" ? "Staff only" : "With the patient",
    formatWhen(t.last_message_at, { dateStyle: "medium", timeStyle: "short" }),
    String(t.message_count),
    [t.escalated_at ? "Escalated" : t.awaiting_reply_since ? "Awaiting reply" : "", t.legal_hold ? "Legal hold" : ""].filter(Boolean).join("; "),
  ]);
  return [
    table("Conversations, most recent first", ["Subject", "With", "Last message", "Messages", "Status"], rows, "No secure messages yet."),
    can("message.thread.create") ? el("p", {}, el("a", { href: `#/messages/new/${patientId}`, class: "button-link", text: "Write a message" })) : null,
  ];
}

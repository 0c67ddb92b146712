// Secure messaging (issue 12): the inbox across my threads, a conversation (read, reply
// with a file, drafts, flag a disclosure, file into the chart, legal hold), a new message
// from a patient's chart, the practice queue of unanswered patient messages, my out of
// office, the privacy officer's disclosure flags and retention review, and the practice's
// messaging policy (business hours, response time, auto-reply, retention, notice wording).

export default [
  {
    path: "/messages",
    title: "Messages",
    requires: ["message.inbox.read", "message.read"],
    nav: { label: "Messages", order: 40, description: "Secure messages with patients and colleagues about a patient." },
    load: () => import("../screens/messages/inbox.js"),
  },
  {
    path: "/messages/queue",
    title: "Message queue",
    requires: ["message.queue.read"],
    nav: { label: "Message queue", order: 41, description: "Patient messages nobody answered within the practice's response time." },
    load: () => import("../screens/messages/queue.js"),
  },
  {
    path: "/messages/threads/:threadId",
    title: "Conversation",
    requires: ["message.read"],
    load: () => import("../screens/messages/thread.js"),
  },
  {
    path: "/messages/new/:patientId",
    title: "New message",
    requires: ["message.thread.create"],
    load: () => import("../screens/messages/compose.js"),
  },
  {
    path: "/messages/away",
    title: "Out of office",
    requires: ["message.out_of_office"],
    load: () => import("../screens/messages/away.js"),
  },
  {
    path: "/messages/flags",
    title: "Disclosure flags",
    requires: ["message.flag.read"],
    nav: { label: "Disclosure flags", order: 42, description: "Messages flagged as an inappropriate disclosure, for the privacy officer." },
    load: () => import("../screens/messages/flags.js"),
  },
  {
    path: "/messages/flags/:flagId",
    title: "Disclosure flag",
    requires: ["message.flag.read"],
    load: () => import("../screens/messages/flag.js"),
  },
  {
    path: "/messages/retention",
    title: "Message retention review",
    requires: ["message.retention.read"],
    load: () => import("../screens/messages/retention.js"),
  },
  {
    path: "/messages/policy",
    title: "Messaging policy",
    requires: ["practice.settings.update"],
    nav: { label: "Messaging policy", order: 43, description: "Business hours, response time, after-hours reply, retention, notice wording." },
    load: () => import("../screens/messages/policy.js"),
  },
];

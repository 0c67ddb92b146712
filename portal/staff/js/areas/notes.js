// Clinical notes: the editor generated from templates, starting a note, supervision.

export default [
  {
    path: "/patients/:patientId/notes/new",
    title: "New note",
    requires: ["note.create", "template.read"],
    load: () => import("../screens/notes/new.js"),
  },
  {
    path: "/notes/:noteId",
    title: "Note",
    requires: ["note.read"],
    load: () => import("../screens/notes/editor.js"),
  },
  {
    path: "/psychotherapy-notes",
    title: "Psychotherapy notes",
    anyOf: ["psychotherapy_note.create", "psychotherapy_note.read"],
    nav: { label: "Psychotherapy notes", order: 32, description: "Your process notes, kept apart from the record." },
    load: () => import("../screens/notes/psychotherapy.js"),
  },
  {
    path: "/supervision",
    title: "Supervision",
    requires: ["supervision.queue.read"],
    nav: { label: "Supervision", order: 30, description: "Co-sign or return supervisees' notes." },
    load: () => import("../screens/notes/queue.js"),
  },
];

// Telehealth (the clinician's side of video visits): today's visits with who is waiting,
// and one visit: the waiting room (admit with the identity check, deny, remove), the
// session itself, guest invitations, audio-only fallback, and ending with the facts
// charge capture takes (docs/telehealth.md).

export default [
  {
    path: "/visits",
    title: "Video visits",
    requires: ["visit.list"],
    nav: { label: "Video visits", order: 45, description: "Today's video visits: who is waiting, start, admit, end." },
    load: () => import("../screens/telehealth/today.js"),
  },
  {
    path: "/visits/:visitId",
    title: "Video visit",
    requires: ["visit.read"],
    load: () => import("../screens/telehealth/visit.js"),
  },
];

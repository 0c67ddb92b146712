// Intake: the queue of new patients' intakes (stalled first), the review of a submitted
// packet (forms, consents with their signature evidence, insurance card photos) with
// approve / request changes, resend, restart and cancel; starting an intake from the chart.

export default [
  {
    path: "/intake",
    title: "Intake",
    requires: ["intake.list"],
    nav: { label: "Intake", order: 50, description: "New patients' intake: stalled ones first, packets waiting for review." },
    load: () => import("../screens/intake/queue.js"),
  },
  {
    path: "/intake/:intakeId",
    title: "Intake",
    requires: ["intake.read"],
    load: () => import("../screens/intake/review.js"),
  },
  {
    path: "/patients/:patientId/intake/new",
    title: "Start an intake",
    requires: ["intake.start", "intake.template.read"],
    load: () => import("../screens/intake/start.js"),
  },
];

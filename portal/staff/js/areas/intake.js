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
    path: "/intake/templates",
    title: "Intake templates",
    requires: ["intake.template.manage", "template.read"],
    nav: { label: "Intake templates", order: 52, description: "Which forms, consents and steps a new patient's intake has." },
    load: () => import("../screens/intake/templates.js"),
  },
  {
    path: "/intake/templates/new",
    title: "New intake template",
    requires: ["intake.template.manage", "template.read"],
    load: () => import("../screens/intake/templates.js"),
  },
  {
    path: "/intake/templates/:templateId",
    title: "Edit intake template",
    requires: ["intake.template.manage", "template.read"],
    load: () => import("../screens/intake/templates.js"),
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

// Clinical work: the risk-flag inbox (care team and their supervisors).

export default [
  {
    path: "/flags",
    title: "Risk flags",
    requires: ["measure.flag.list"],
    nav: { label: "Risk flags", order: 25, description: "Flags from questionnaires (e.g. PHQ-9 item 9) to acknowledge." },
    load: () => import("../screens/clinical/flags.js"),
  },
];

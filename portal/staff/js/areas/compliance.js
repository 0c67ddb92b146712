// Compliance: the audit trail viewer (filters, export, chain verification) and the access
// report for one patient.

export default [
  {
    path: "/compliance/audit",
    title: "Audit trail",
    requires: ["audit.read"],
    nav: { label: "Audit trail", order: 90, description: "Who did what, when; verify the chain." },
    load: () => import("../screens/compliance/audit.js"),
  },
  {
    path: "/compliance/access-report",
    title: "Access report",
    // In the menu for compliance (clinicians reach a patient's report from the chart)
    requires: ["patient.access_log.read", "audit.read"],
    nav: { label: "Access report", order: 91, description: "Everyone who opened one patient's record." },
    load: () => import("../screens/compliance/access-report.js"),
  },
  {
    path: "/compliance/access-report/:patientId",
    title: "Access report",
    requires: ["patient.access_log.read"],
    load: () => import("../screens/compliance/access-report.js"),
  },
];

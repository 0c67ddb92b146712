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
  {
    path: "/compliance/rights",
    title: "Rights requests",
    requires: ["rights.queue"],
    nav: { label: "Rights requests", order: 92, description: "Patients' requests for access, amendment and an accounting, by due date." },
    load: () => import("../screens/compliance/rights.js"),
  },
  {
    path: "/compliance/rights/:patientId/:requestId",
    title: "Rights request",
    requires: ["rights.read"],
    load: () => import("../screens/compliance/rights-request.js"),
  },
  {
    path: "/compliance/disclosures",
    title: "Disclosures",
    requires: ["disclosure.read"],
    nav: { label: "Disclosures", order: 93, description: "The disclosure register for the accounting of disclosures." },
    load: () => import("../screens/compliance/disclosures.js"),
  },
  {
    path: "/compliance/disclosures/:patientId",
    title: "Disclosures",
    requires: ["disclosure.read"],
    load: () => import("../screens/compliance/disclosures.js"),
  },
  {
    path: "/compliance/access-reviews",
    title: "Access reviews",
    requires: ["access_review.read"],
    nav: { label: "Access reviews", order: 94, description: "Who holds which role; break-glass uses; sign-off." },
    load: () => import("../screens/compliance/access-reviews.js"),
  },
  {
    path: "/compliance/access-reviews/:reviewId",
    title: "Access review",
    requires: ["access_review.read"],
    load: () => import("../screens/compliance/access-review.js"),
  },
];

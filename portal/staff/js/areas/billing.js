// Billing: work queues (ready to bill, claims by status, batch and submit), a claim with
// its validation problems and history, the posting exception queue, write-offs and refunds
// waiting for a second person, a patient's ledger (payments, adjustments, statement,
// superbill, Good Faith Estimates, eligibility) and reconciliation. Billers see billing
// facts only (codes, amounts, dates, ids): never note content.

export default [
  {
    path: "/billing",
    title: "Billing work queues",
    requires: ["claim.read"],
    nav: { label: "Billing", order: 60, description: "Ready to bill, claims by status, batches to the clearinghouse." },
    load: () => import("../screens/billing/queues.js"),
  },
  {
    path: "/billing/claims/:claimId",
    title: "Claim",
    requires: ["claim.read"],
    load: () => import("../screens/billing/claim.js"),
  },
  {
    path: "/billing/exceptions",
    title: "Posting exceptions",
    requires: ["billing.exception.read"],
    nav: { label: "Posting exceptions", order: 61, description: "Remittances that did not post: unmatched, out of balance." },
    load: () => import("../screens/billing/exceptions.js"),
  },
  {
    path: "/billing/approvals",
    title: "Approvals",
    requires: ["ledger.adjustment.approve"],
    nav: { label: "Approvals", order: 62, description: "Write-offs and refunds waiting for a second person." },
    load: () => import("../screens/billing/approvals.js"),
  },
  {
    path: "/billing/patients/:patientId",
    title: "Patient account",
    requires: ["ledger.read"],
    load: () => import("../screens/billing/ledger.js"),
  },
  {
    path: "/billing/reconciliation",
    title: "Reconciliation",
    requires: ["reconciliation.run"],
    nav: { label: "Reconciliation", order: 63, description: "Bank statements against 835 EFTs and card payouts; month-end AR." },
    load: () => import("../screens/billing/reconciliation.js"),
  },
  {
    path: "/billing/setup",
    title: "Billing set-up",
    requires: ["billing.setup.read"],
    anyOf: ["billing.setup.manage"],
    nav: { label: "Billing set-up", order: 64, description: "Billing identities, payers, fee schedules, the approval threshold." },
    load: () => import("../screens/billing/setup.js"),
  },
];

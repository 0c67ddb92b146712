// Wording shared by the patients' rights screens.

export const KINDS = {
  access: "Copy of the record (access)",
  accounting: "Accounting of disclosures",
  amendment: "Amendment",
};

export const STATUS = {
  open: "Open",
  fulfilled: "Fulfilled",
  accepted: "Amendment accepted",
  denied: "Denied",
  withdrawn: "Withdrawn",
};

export const BASES = [
  ["required_by_law", "Required by law"],
  ["public_health", "Public health"],
  ["abuse_or_neglect", "Abuse or neglect report"],
  ["health_oversight", "Health oversight"],
  ["judicial_proceeding", "Judicial or administrative proceeding"],
  ["law_enforcement", "Law enforcement"],
  ["decedents", "About a decedent"],
  ["research", "Research (without authorization)"],
  ["serious_threat", "Serious threat to health or safety"],
  ["workers_compensation", "Workers' compensation"],
  ["impermissible", "Impermissible (a breach)"],
  ["other", "Other"],
  ["treatment_payment_operations", "Treatment, payment or operations (not in the accounting)"],
  ["to_patient", "To the patient (not in the accounting)"],
  ["authorization", "Under the patient's authorization (not in the accounting)"],
];

/** A calendar date (YYYY-MM-DD) with its year; no time zone can shift it. */
export function day(iso) {
  if (!iso) return "";
  return new Date(`${iso}T00:00:00Z`).toLocaleDateString(undefined, {
    dateStyle: "medium",
    timeZone: "UTC",
  });
}

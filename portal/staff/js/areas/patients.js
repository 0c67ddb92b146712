// Patients: search (name, date of birth, phone through the API's blind index) and records.

export default [
  {
    path: "/patients",
    title: "Patients",
    nav: { label: "Patients", order: 20 },
    requires: ["patient.search"],
    load: () => import("../screens/patients/search.js"),
  },
  {
    path: "/patients/new",
    title: "Add a patient",
    requires: ["patient.create"],
    load: () => import("../screens/patients/edit.js"),
  },
  {
    path: "/patients/:patientId/edit",
    title: "Edit patient",
    requires: ["patient.update"],
    load: () => import("../screens/patients/edit.js"),
  },
  {
    path: "/patients/:patientId",
    title: "Patient",
    requires: ["patient.read"],
    load: () => import("../screens/patients/record.js"),
  },
];

// Scheduling: the calendar (day/week, per clinician and location; book, move, cancel,
// arrived/no-show); the waitlist and its offers.

export default [
  {
    path: "/calendar",
    title: "Calendar",
    requires: ["appointment.list", "scheduling.catalogue.read"],
    nav: { label: "Calendar", order: 10, description: "The day or week: book, move, cancel, check in." },
    load: () => import("../screens/calendar/calendar.js"),
  },
  {
    path: "/calendar/waitlist",
    title: "Waitlist",
    requires: ["waitlist.list", "scheduling.catalogue.read"],
    nav: { label: "Waitlist", order: 11, description: "Patients waiting for an earlier time; offers of freed times." },
    load: () => import("../screens/calendar/waitlist.js"),
  },
];

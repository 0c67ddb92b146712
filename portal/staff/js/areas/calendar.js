// Scheduling: the calendar (day/week, per clinician and location; book, move, cancel,
// arrived/no-show).

export default [
  {
    path: "/calendar",
    title: "Calendar",
    requires: ["appointment.list", "scheduling.catalogue.read"],
    nav: { label: "Calendar", order: 10, description: "The day or week: book, move, cancel, check in." },
    load: () => import("../screens/calendar/calendar.js"),
  },
];

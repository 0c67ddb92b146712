// Administration: staff accounts (invite, approve, roles, supervisors, deactivate,
// reactivate, sessions).

export default [
  {
    path: "/admin/practice",
    title: "Practice",
    anyOf: ["practice.settings.update", "scheduling.catalogue.manage"],
    nav: { label: "Practice", order: 81, description: "Settings, locations, services and fees, hours." },
    load: () => import("../screens/admin/practice.js"),
  },
  {
    path: "/admin/reminders",
    title: "Reminders",
    requires: ["reminder.settings.read"],
    nav: { label: "Reminders", order: 82, description: "When reminders go out, their wording, quiet hours." },
    load: () => import("../screens/admin/reminders.js"),
  },
  {
    path: "/admin/users",
    title: "Users",
    requires: ["user.list"],
    anyOf: ["user.invite", "user.update_roles", "user.deactivate"],
    nav: { label: "Users", order: 80, description: "Invite staff, change roles, end access." },
    load: () => import("../screens/admin/users.js"),
  },
  {
    path: "/admin/users/:userId",
    title: "User",
    requires: ["user.read"],
    load: () => import("../screens/admin/user.js"),
  },
];

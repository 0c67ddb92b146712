// The signed-in user's own account: sessions (end one), authenticator app, recovery codes;
// a clinician's own hours.

export default [
  {
    path: "/account",
    title: "My account",
    requires: ["self.sessions"],
    load: () => import("../screens/account.js"),
  },
  {
    path: "/account/hours",
    title: "My hours",
    requires: ["availability.update", "availability.read", "scheduling.catalogue.read"],
    load: () => import("../screens/my-hours.js"),
  },
];

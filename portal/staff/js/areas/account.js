// The signed-in user's own account: sessions (end one), authenticator app, recovery codes.

export default [
  {
    path: "/account",
    title: "My account",
    requires: ["self.sessions"],
    load: () => import("../screens/account.js"),
  },
];

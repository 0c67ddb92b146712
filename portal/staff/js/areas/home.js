// The start page: what this role does here, as links to the sections it may use.

export default [
  {
    path: "/",
    title: "Home",
    nav: { label: "Home", order: 0 },
    load: () => import("../screens/home.js"),
  },
];

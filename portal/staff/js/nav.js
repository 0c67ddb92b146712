// Role-aware navigation: one link per registered route that has `nav`, shown only when the
// signed-in user's permissions allow the route.

import { allRoutes, allowed } from "./router.js";
import { $, el } from "./ui.js";

export function buildNav() {
  const items = allRoutes()
    .filter((route) => route.nav && allowed(route))
    .sort((a, b) => (a.nav.order ?? 100) - (b.nav.order ?? 100));
  $("nav-list").replaceChildren(
    ...items.map((route) =>
      el("li", {}, el("a", { href: `#${route.path}`, "data-path": route.path, text: route.nav.label })),
    ),
  );
}

export function clearNav() {
  $("nav-list").replaceChildren();
}

// Home: a greeting and the sections this role may use (the same list as the menu, with a
// line on what each is for).

import { allRoutes, allowed } from "../router.js";
import { current } from "../session.js";
import { el, heading, roleName } from "../ui.js";

export function render(view) {
  const me = current.me;
  const sections = allRoutes()
    .filter((route) => route.nav && route.path !== "/" && allowed(route))
    .sort((a, b) => (a.nav.order ?? 100) - (b.nav.order ?? 100));
  view.append(
    heading(`Welcome, ${me.display_name}`),
    el("p", { class: "hint", text: `Signed in as ${me.roles.map(roleName).join(", ")}.` }),
    el(
      "ul",
      { class: "tiles" },
      ...sections.map((route) =>
        el(
          "li",
          {},
          el("a", { href: `#${route.path}`, text: route.nav.label }),
          route.nav.description ? el("p", { class: "hint", text: route.nav.description }) : null,
        ),
      ),
    ),
  );
}

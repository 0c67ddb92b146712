// Hash routing: "#/patients/pat_01h…". Routes carry ids only — never a name, date of birth
// or any other PHI — so nothing personal lands in history, logs or the Referer.
//
// A route: { path: "/patients/:patientId", title, requires: [actions], anyOf: [actions],
//            nav: { label, order, group }?, load: () => import("./screens/…js") }.
// A screen module exports `render(view, params)`; it may return a cleanup function, and
// it may call `guardLeave(fn)` (fn() -> true to allow leaving) for unsaved work.

import { canAll, canAny } from "./permissions.js";
import { $, el, heading, showError } from "./ui.js";

const routes = [];
let cleanup = null;
let leaveGuard = null;
let generation = 0;
let started = false;
let lastHash = "";

function compile(path) {
  const keys = [];
  const pattern = path.replace(/:[A-Za-z]+/g, (key) => {
    keys.push(key.slice(1));
    return "([A-Za-z0-9_-]+)";
  });
  return { regex: new RegExp(`^${pattern}$`), keys };
}

export function register(list) {
  for (const route of list) routes.push({ ...route, ...compile(route.path) });
}

export function allRoutes() {
  return routes;
}

export function allowed(route) {
  return canAll(route.requires || []) && (!route.anyOf || canAny(route.anyOf));
}

export function currentPath() {
  const path = location.hash.replace(/^#/, "");
  return path.startsWith("/") ? path : "/";
}

export function navigate(path) {
  if (location.hash === `#${path}`) render();
  else location.hash = path;
}

/** Screens with unsaved work register a check; leaving asks it first. */
export function guardLeave(check) {
  leaveGuard = check;
}

function match(path) {
  const [bare] = path.split("?");
  for (const route of routes) {
    const found = route.regex.exec(bare);
    if (found) {
      const params = {};
      route.keys.forEach((key, i) => (params[key] = found[i + 1]));
      return { route, params };
    }
  }
  return null;
}

function message(title, text) {
  return [heading(title), el("p", { text })];
}

export async function render() {
  if (leaveGuard && !leaveGuard()) {
    // stay: put the old address back without rendering again
    history.replaceState(null, "", lastHash || "#/");
    return;
  }
  leaveGuard = null;
  lastHash = location.hash;
  const mine = (generation += 1);
  if (cleanup) {
    try {
      cleanup();
    } catch {
      /* a screen's cleanup must not stop navigation */
    }
    cleanup = null;
  }
  const view = $("view");
  showError("");
  $("status").textContent = ""; // a new page: no stale message from the last one
  const found = match(currentPath());
  markCurrent(found && found.route);
  let content;
  if (!found) {
    content = message("Page not found", "Check the address, or choose a section from the menu.");
  } else if (!allowed(found.route)) {
    content = message(
      "You do not have access to this",
      "Your role cannot use this page. Ask an administrator if you need it.",
    );
  } else {
    view.setAttribute("aria-busy", "true");
    try {
      const screen = await found.route.load();
      if (mine !== generation) return;
      const box = el("div", { class: "screen" });
      const result = await screen.render(box, found.params);
      if (mine !== generation) {
        if (typeof result === "function") result();
        return;
      }
      cleanup = typeof result === "function" ? result : null;
      content = [box];
    } catch (error) {
      if (mine !== generation) return;
      if (error && error.handled) return; // the session ended: sign-in shows why
      content =
        error && error.status === 404
          ? message("Not found", "This record does not exist, or you do not have access to it.")
          : message("This page could not load", "Try again. If it keeps happening, tell your administrator.");
    } finally {
      view.removeAttribute("aria-busy");
    }
  }
  view.replaceChildren(...content);
  const h1 = view.querySelector("h1");
  document.title = `${h1 ? h1.textContent : "tpm"} — tpm staff`;
  if (h1) {
    if (!h1.hasAttribute("tabindex")) h1.setAttribute("tabindex", "-1");
    h1.focus();
  }
}

function markCurrent(route) {
  for (const link of document.querySelectorAll("#nav-list a")) {
    const here = route && link.dataset.path === route.path;
    if (here) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

export function startRouter() {
  if (!started) {
    window.addEventListener("hashchange", render);
    started = true;
  }
  return render();
}

export function stopRouter() {
  if (started) window.removeEventListener("hashchange", render);
  started = false;
  leaveGuard = null;
  generation += 1;
  if (cleanup) {
    try {
      cleanup();
    } catch {
      /* ignore */
    }
  }
  cleanup = null;
  $("view").replaceChildren();
}

// DOM, announcement, error and time helpers shared by the patient portal and the staff app.
// Data is only ever set as text (never innerHTML), so nothing the API returns can become
// markup. Each page has one polite status region (#status) and one alert region (#alert).

export const $ = (id) => document.getElementById(id);

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

/** Polite status for screen readers and sighted users alike. */
export function announce(message) {
  const status = $("status");
  status.textContent = "";
  // A fresh text node after clearing makes repeated messages announce again.
  requestAnimationFrame(() => (status.textContent = message));
}

export function showError(message) {
  if (message) $("status").textContent = ""; // no stale success next to an error
  const alert = $("alert");
  alert.textContent = message;
  alert.hidden = !message;
}

/** What the API's error codes mean for people, and what to do next. Each app passes its
 * own wording on top of these (`describer({...})`). */
export const COMMON_MESSAGES = {
  network: "We could not reach the practice. Check your connection and try again.",
  unauthenticated: "That email and password do not match an account.",
  invalid_credentials: "That email and password do not match an account.",
  mfa_invalid: "That code did not work. Check your app and try again.",
  rate_limited: "Too many attempts. Please wait a moment and try again.",
  reauthenticate: "This needs your password and a fresh code. Please try again.",
  version_conflict: "This changed since you opened it. We reloaded it; please try again.",
  not_found: "That is no longer available.",
  payload_too_large: "That is too large to send. Make it smaller and try again.",
  dependency_unavailable: "A service the practice relies on is not answering. Try again in a minute.",
  validation_failed: "Some fields are not valid. Please check them and try again.",
};

/** A describe(error) function: rule-specific wording first, then by code, then a default. */
export function describer(messages = {}, rules = {}) {
  const byCode = { ...COMMON_MESSAGES, ...messages };
  return (error) => {
    const rule = error && error.details && error.details.rule;
    if (rule && rules[rule]) return rules[rule];
    return byCode[error && error.code] || "Something went wrong. Please try again.";
  };
}

/** Run an async action with its button disabled; errors show in the alert region. */
export async function busyWith(describe, button, action) {
  if (button) button.disabled = true;
  showError("");
  $("status").textContent = "";
  try {
    await action();
  } catch (error) {
    if (error && error.handled) return; // the session ended: sign-in shows why
    showError(describe(error));
  } finally {
    if (button) button.disabled = false;
  }
}

let zone = Intl.DateTimeFormat().resolvedOptions().timeZone;

export function useTimeZone(name) {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: name });
    zone = name;
  } catch {
    /* keep the browser's zone */
  }
}

export function zoneName() {
  return zone;
}

export function formatWhen(iso, options = { dateStyle: "full", timeStyle: "short" }) {
  return new Intl.DateTimeFormat(undefined, { ...options, timeZone: zone }).format(new Date(iso));
}

export function formatTime(iso) {
  return new Intl.DateTimeFormat(undefined, {
    timeStyle: "short",
    timeZone: zone,
  }).format(new Date(iso));
}

export function formatDay(iso) {
  return formatWhen(iso, { weekday: "long", month: "long", day: "numeric" });
}

/** YYYY-MM-DD of an instant in the current zone. */
export function localDate(date) {
  return new Intl.DateTimeFormat("en-CA", {
    timeZone: zone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
  }).format(date);
}

// Small DOM helpers. Data is only ever set as text (never innerHTML), so nothing the API
// returns can become markup.

export const $ = (id) => document.getElementById(id);

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
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

const MESSAGES = {
  network: "We could not reach the practice. Check your connection and try again.",
  unauthenticated: "That email and password do not match an account.",
  invalid_credentials: "That email and password do not match an account.",
  mfa_invalid: "That code did not work. Check your app and try again.",
  rate_limited: "Too many attempts. Please wait a moment and try again.",
  version_conflict: "This changed since you opened it. We reloaded it; please try again.",
  slot_unavailable: "That time was just taken. Please pick another.",
  conflict: "That time was just taken. Please pick another.",
  not_found: "That is no longer available.",
  forbidden: "This is not available in the portal. Please call the practice.",
  identity_not_confirmed: "Those details do not match what the practice has on file. Please check them and try again.",
  verification_locked: "Too many attempts. The practice has been asked to help you; you can also call them.",
  document_changed: "This document was just updated. Please read it again before you sign.",
  intake_step_not_open: "That step is not open right now. Please reload the page.",
};

const RULES = {
  cancel_window: "It is too close to the appointment to cancel online. Please call the practice.",
  minimum_notice: "That time is too soon to book online. Please pick a later time.",
  too_far_ahead: "That time is too far ahead to book online.",
  self_booking_disabled: "Online booking is not available. Please call the practice.",
  service_not_self_bookable: "That service cannot be booked online.",
  clinician_not_self_bookable: "That clinician cannot be booked online.",
};

export function describe(error) {
  const rule = error && error.details && error.details.rule;
  if (rule && RULES[rule]) return RULES[rule];
  if (error && error.code === "validation_failed") {
    return "Some fields are not valid. Please check them and try again.";
  }
  return MESSAGES[error && error.code] || "Something went wrong. Please try again.";
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

/** YYYY-MM-DD of an instant in the patient's zone. */
export function localDate(date) {
  const parts = new Intl.DateTimeFormat("en-CA", {
    timeZone: zone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
  }).format(date);
  return parts;
}

export function zoneName() {
  return zone;
}

/** Run an async action with its button disabled; errors show in the alert region. */
export async function busy(button, action) {
  button.disabled = true;
  showError("");
  $("status").textContent = "";
  try {
    await action();
  } catch (error) {
    if (error && error.handled) return; // the session ended: sign-in shows why
    showError(describe(error));
  } finally {
    button.disabled = false;
  }
}

// The staff app's entry point: sign-in (with the MFA step and first-time enrolment), then
// the shell — role-aware navigation, hash routing to lazily loaded screens, idle sign-out
// with a warning, and step-up re-authentication when the API asks for it.

import { call, forget, logout, onServerActivity, whenSessionEnds } from "../../shared/api.js";
import { closePasswordReset, setUpPasswordReset } from "../../shared/password-reset.js";
import { serverActivity, setUpIdle, startIdle, stopIdle } from "./idle.js";
import { buildNav, clearNav } from "./nav.js";
import { clearPermissions, loadPermissions } from "./permissions.js";
import { AREAS } from "./registry.js";
import { register, startRouter, stopRouter } from "./router.js";
import { clearCurrent, current } from "./session.js";
import { resetSignIn, setUpSignIn } from "./signin.js";
import { setUpStepUp } from "./stepup.js";
import { $, announce, busy, describeNow, roleName, showError, useTimeZone } from "./ui.js";

for (const area of AREAS) register(area);

let active = false; // a session is open in this page (from sign-in to sign-out)

function show(mode) {
  // mode: "signin" | "enrol" | "app"
  $("signin-view").hidden = mode !== "signin";
  $("accept-view").hidden = true;
  closePasswordReset();
  $("view").hidden = mode === "signin";
  $("nav").hidden = mode !== "app";
  $("who").hidden = mode !== "app";
  $("account-link").hidden = mode !== "app";
  $("signout").hidden = mode === "signin";
}

function signedOut(message) {
  active = false;
  stopRouter();
  stopIdle();
  forget();
  clearNav();
  clearPermissions();
  clearCurrent();
  show("signin");
  resetSignIn();
  $("who").textContent = "";
  $("practice-name").textContent = "tpm";
  document.title = "Staff sign in — tpm";
  showError("");
  $("status").textContent = "";
  $("signin-message").textContent = message;
  $("signin-message").hidden = !message;
  $("email").focus();
}

async function enrol() {
  show("enrol");
  const { renderEnrolment } = await import("./screens/mfa.js");
  await renderEnrolment($("view"), { first: true, onDone: enter });
}

async function enter() {
  const me = await call("GET", "/v1/me");
  if (me.patient_id) {
    await logout();
    signedOut("This is the practice's staff app. Patients sign in to the patient portal.");
    return;
  }
  const [practice] = await Promise.all([call("GET", "/v1/practice"), loadPermissions()]);
  current.me = me;
  current.practice = practice;
  useTimeZone(practice.timezone);
  $("practice-name").textContent = practice.name;
  $("who").textContent = `${me.display_name} · ${me.roles.map(roleName).join(", ")}`;
  buildNav();
  show("app");
  startIdle(practice.settings.session_idle_minutes, idleTimeout);
  $("signin-message").hidden = true;
  announce("Signed in.");
  await startRouter();
}

async function idleTimeout() {
  try {
    await logout();
  } catch {
    /* the server may have ended it already */
  }
  signedOut("You were signed out because you were inactive. Sign in again to carry on.");
}

async function signOutNow() {
  try {
    await logout();
  } catch {
    /* the session may already have ended; we forget it locally either way */
  }
  signedOut("You have signed out.");
}

whenSessionEnds((why) => {
  if (!active) return; // already signed out here: a late answer changes nothing
  signedOut(
    why === "idle"
      ? "Your session has ended (after a period of inactivity, or from another device). Sign in again."
      : "Please sign in again.",
  );
});
onServerActivity(serverActivity);
setUpStepUp();
setUpIdle(signOutNow);

setUpSignIn(async (result) => {
  active = true;
  try {
    if (result.enrol) await enrol();
    else await enter();
  } catch (error) {
    if (!error.handled) showError(describeNow(error));
  }
});

$("signout").addEventListener("click", signOutNow);
show("signin");
setUpPasswordReset(busy); // opens "choose a new password" when the page is a reset link

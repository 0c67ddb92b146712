// The portal's entry point: switches between sign-in and the signed-in view.

import { call, forget, logout, whenSessionEnds } from "../shared/api.js";
import { closePasswordReset, setUpPasswordReset } from "../shared/password-reset.js";
import { loadAccessLog, setUpAccessLog } from "./access.js";
import { loadAppointments, loadCatalogue, onOpenVisit } from "./appointments.js";
import { loadBilling, setUpBilling } from "./billing.js";
import { renderBookingChoices, setUpBooking } from "./booking.js";
import { loadDocuments, setUpDocuments } from "./documents.js";
import { loadIntake, resetIntake } from "./intake.js";
import { loadMeasures, resetMeasures } from "./measures.js";
import { loadMessages, resetMessages, setUpMessages } from "./messages.js";
import { loadProfile, setUpProfile } from "./profile.js";
import { loadProxy, resetProxy, setUpProxy } from "./proxy.js";
import { setUpRequest } from "./request.js";
import { loadRights, resetRights, setUpRights } from "./rights.js";
import { resetSignIn, setUpSignIn } from "./signin.js";
import { $, announce, busy, describe, showError, useTimeZone } from "./ui.js";

function show(signedIn, asProxy = false) {
  closePasswordReset();
  $("visit-view").hidden = true;
  $("signin-view").hidden = signedIn;
  $("app-view").hidden = !signedIn || asProxy;
  $("proxy-view").hidden = !signedIn || !asProxy;
  $("nav").hidden = !signedIn || asProxy; // the sections are the patient's own portal
  $("signout").hidden = !signedIn;
}

function signedOut(message) {
  forget();
  show(false);
  resetSignIn();
  $("who").textContent = "";
  for (const id of ["upcoming", "past", "access-rows", "documents-list"]) $(id).replaceChildren();
  resetMeasures();
  resetIntake();
  resetMessages();
  resetRights();
  resetProxy();
  $("profile-form").reset();
  showError("");
  $("status").textContent = "";
  $("signin-message").textContent = message;
  $("signin-message").hidden = !message;
  $("email").focus();
}

/** A parent, guardian or other representative: their own account, acting for patients. */
async function enterAsProxy(me) {
  announce("Loading…");
  const practice = call("GET", "/v1/practice");
  await loadProxy(me);
  $("practice-name").textContent = (await practice).name;
  $("signin-message").hidden = true;
  show(true, true);
  announce("Signed in.");
  $("proxy-title").focus();
}

async function enter() {
  const me = await call("GET", "/v1/me");
  if (me.roles.includes("proxy")) {
    await enterAsProxy(me);
    return;
  }
  if (!me.patient_id) {
    await logout();
    signedOut("The patient portal is for patients. Staff use the practice's own tools.");
    return;
  }
  announce("Loading your portal…");
  // Everything loads before the view shows, so nothing typed early is overwritten.
  const practice = call("GET", "/v1/practice");
  const patient = await loadProfile(me.patient_id);
  useTimeZone(patient.timezone); // times show in the patient's own zone
  await Promise.all([
    loadCatalogue().then(loadAppointments),
    loadAccessLog(),
    loadDocuments(),
    loadMeasures(),
    loadIntake(),
    loadBilling(me.patient_id),
    loadRights(me.patient_id),
  ]);
  renderBookingChoices();
  $("practice-name").textContent = (await practice).name;
  $("who").textContent = me.display_name;
  $("zone").textContent = patient.timezone;
  $("signin-message").hidden = true;
  show(true);
  announce("Signed in.");
  $("app-title").focus();
  // Messages load after the view shows (nothing in them can be typed over early): the
  // sign-in does not wait for them.
  loadMessages().catch((error) => {
    if (!error.handled) showError(describe(error));
  });
}

whenSessionEnds((why) =>
  signedOut(
    why === "idle"
      ? "Your session has ended (after a period of inactivity, or from another device). Please sign in again."
      : "Please sign in again.",
  ),
);

setUpSignIn(async () => {
  try {
    await enter();
  } catch (error) {
    if (!error.handled) showError(describe(error));
  }
});
setUpBooking();
setUpBilling();
setUpRequest();
setUpProfile();
setUpAccessLog();
setUpDocuments();
setUpMessages();
setUpRights();
setUpProxy();

$("signout").addEventListener("click", async () => {
  try {
    await logout();
  } catch {
    /* the session may already have ended; we forget it locally either way */
  }
  signedOut("You have signed out.");
});

// The visit page and its media code load only when someone opens a visit.
onOpenVisit(async (appointmentId) => {
  $("app-view").hidden = true;
  $("visit-view").hidden = false;
  const { openPatientVisit } = await import("./visit.js");
  await openPatientVisit(appointmentId, () => {
    $("visit-view").hidden = true;
    $("app-view").hidden = false;
    $("app-title").focus();
    loadAppointments().catch(() => {});
  });
});

async function openGuest(invitation) {
  $("signin-view").hidden = true;
  $("visit-view").hidden = false;
  $("visit-back").hidden = true;
  const { openGuestVisit } = await import("./visit.js");
  await openGuestVisit(invitation, () => {});
}

// A guest's invitation link: <portal>/#visit-invitation=<token> (the fragment never
// reaches a server or its logs). Nothing else of the portal is shown to a guest.
const invitation = new URLSearchParams(location.hash.slice(1)).get("visit-invitation");
show(false);
if (invitation !== null) {
  history.replaceState(null, "", location.pathname + location.search);
  openGuest(invitation);
} else {
  setUpPasswordReset(busy); // opens "choose a new password" when the page is a reset link
}

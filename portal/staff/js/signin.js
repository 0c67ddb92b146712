// Sign-in: email + password, then a TOTP (or recovery) code when the account has MFA.
// Accounts whose role must use MFA and have none yet go to enrolment next (main.js).

import { login, practiceSlug, verifyMfa } from "../../shared/api.js";
import { $, busy, showError } from "./ui.js";

let challenge = "";

function showStep(mfa) {
  $("signin-form").hidden = mfa;
  $("mfa-form").hidden = !mfa;
  (mfa ? $("mfa-code") : $("email")).focus();
}

export function resetSignIn() {
  challenge = "";
  $("signin-form").reset();
  $("mfa-form").reset();
  $("signin-form").hidden = false;
  $("mfa-form").hidden = true;
}

/** onSignedIn({enrol}) runs once the session exists. */
export function setUpSignIn(onSignedIn) {
  if (!practiceSlug()) {
    showError("This address is missing the practice. Please use the link your practice gave you.");
  }
  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    if (!form.reportValidity()) return;
    busy(form.querySelector("button[type=submit]"), async () => {
      const result = await login($("email").value.trim(), $("password").value);
      $("password").value = "";
      if (result.mfa) {
        challenge = result.mfa;
        showStep(true);
        return;
      }
      await onSignedIn(result);
    });
  });
  $("mfa-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    if (!form.reportValidity()) return;
    busy(form.querySelector("button[type=submit]"), async () => {
      let result;
      try {
        result = await verifyMfa(challenge, $("mfa-code").value.trim());
      } catch (error) {
        $("mfa-code").value = "";
        if (error.code === "invalid_credentials" || error.code === "unauthenticated") {
          error.code = "mfa_invalid";
        }
        throw error;
      }
      await onSignedIn(result);
    });
  });
  $("mfa-cancel").addEventListener("click", () => {
    resetSignIn();
    showError("");
    $("email").focus();
  });
}

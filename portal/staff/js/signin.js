// Sign-in: email + password, then a TOTP (or recovery) code when the account has MFA.
// Accounts whose role must use MFA and have none yet go to enrolment next (main.js).

import { login, practiceSlug, publicCall, verifyMfa } from "../../shared/api.js";
import { PASSWORD_WORDS } from "../../shared/password-reset.js";
import { $, announce, busy, clearErrors, showError, showFormError } from "./ui.js";

let challenge = "";

function showStep(mfa) {
  $("signin-form").hidden = mfa;
  $("mfa-form").hidden = !mfa;
  (mfa ? $("mfa-code") : $("email")).focus();
}

function showAccept(open) {
  $("signin-view").hidden = open;
  $("accept-view").hidden = !open;
  showError("");
  if (open) $("accept-title").focus();
  else $("email").focus();
}

export function resetSignIn() {
  challenge = "";
  $("accept-view").hidden = true;
  $("accept-form").reset();
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
  $("accept-open").addEventListener("click", () => showAccept(true));
  $("accept-back").addEventListener("click", () => showAccept(false));
  $("accept-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    clearErrors(form);
    busy(form.querySelector("button[type=submit]"), async () => {
      let user;
      try {
        user = await publicCall("POST", "/v1/auth/accept-invitation", {
          practice: practiceSlug(),
          token: $("accept-token").value.trim(),
          password: $("accept-password").value,
        });
      } catch (error) {
        $("accept-password").value = "";
        if (error.status === 401 || error.status === 404) {
          showFormError(form, { details: { fields: [{ path: "body.token", type: "bad_token" }] } }, {
            bad_token: "This code did not work: it may have been used or expired. Ask your practice for a new one.",
          });
          return;
        }
        showFormError(form, error, PASSWORD_WORDS);
        return;
      }
      form.reset();
      showAccept(false);
      $("email").value = user.email;
      $("signin-message").textContent = "Your account is ready. Sign in with your new password.";
      $("signin-message").hidden = false;
      announce("Your account is ready.");
      $("password").focus();
    });
  });
  $("mfa-cancel").addEventListener("click", () => {
    resetSignIn();
    showError("");
    $("email").focus();
  });
}

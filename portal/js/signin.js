// Sign-in: email + password, then a TOTP (or recovery) code when the account has MFA.

import { login, practiceSlug, publicCall, verifyMfa } from "../shared/api.js";
import { $, announce, busy, showError } from "./ui.js";

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
  $("accept-form").reset();
  $("accept-box").open = false;
  $("signin-form").hidden = false;
  $("mfa-form").hidden = true;
}

export function setUpSignIn(onSignedIn) {
  if (!practiceSlug()) {
    showError("This portal address is missing the practice. Please use the link your practice sent.");
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
      await onSignedIn();
    });
  });
  $("mfa-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    if (!form.reportValidity()) return;
    busy(form.querySelector("button[type=submit]"), async () => {
      try {
        await verifyMfa(challenge, $("mfa-code").value.trim());
      } catch (error) {
        $("mfa-code").value = "";
        if (error.code === "invalid_credentials") error.code = "mfa_invalid";
        throw error;
      }
      await onSignedIn();
    });
  });
  // A one-time invitation code (a patient, or a patient's parent, guardian or other
  // representative): choose a password, then sign in with it.
  $("accept-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    if (!form.reportValidity()) return;
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
          error.code = "invitation_not_valid";
        }
        throw error;
      }
      form.reset();
      $("accept-box").open = false;
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

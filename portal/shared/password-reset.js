// A forgotten password, the same in the patient portal and the staff app.
//
// "Forgot your password?" asks for the email; the answer is the same whether or not the
// address has an account here (the API never tells). The emailed link is
// <app>/?practice=<slug>#password-reset=<token>: the token rides in the fragment, which the
// browser never sends to a server, and it is taken out of the address bar at once.
// Both pages carry the same markup: #forgot-open in the sign-in view, #forgot-view and
// #reset-view next to it.

import { practiceSlug, publicCall } from "./api.js";
import { $, announce, showError } from "./ui.js";

export const PASSWORD_WORDS = {
  too_short: "Use at least 12 characters.",
  too_long: "Use a shorter password.",
  common_password: "This password is too common. Choose another.",
  repetitive: "Avoid repeated characters.",
  sequential: "Avoid sequences like 1234 or abcd.",
  contains_context: "Do not use your name, email or the practice's name.",
  provider_policy: "This password does not meet the practice's rules. Choose a longer one.",
};

const LINK_FAILED =
  "This link did not work: it may have been used already, replaced by a newer one, or expired (links work for 30 minutes). Ask for a new one.";

let token = "";

/** The reset token from an emailed link (and the address bar cleaned), or "". */
function takeTokenFromLink() {
  const found = new URLSearchParams(location.hash.slice(1)).get("password-reset");
  if (found === null) return "";
  history.replaceState(null, "", location.pathname + location.search);
  return found;
}

function showOnly(id) {
  for (const view of ["signin-view", "forgot-view", "reset-view"]) $(view).hidden = view !== id;
}

/** Hides both reset views (the app's own sign-in/sign-out switching calls this). */
export function closePasswordReset() {
  $("forgot-view").hidden = true;
  $("reset-view").hidden = true;
}

function backToSignIn(message) {
  closePasswordReset();
  $("signin-view").hidden = false;
  $("signin-message").textContent = message || "";
  $("signin-message").hidden = !message;
  $("email").focus();
}

function passwordProblem(message) {
  const error = $("reset-password-error");
  error.textContent = message;
  error.hidden = !message;
  $("reset-password").setAttribute("aria-invalid", message ? "true" : "false");
  if (message) $("reset-password").focus();
}

/** Wires the two views. `busy(button, action)` is the app's own (errors go to its alert).
 * Returns true when the page was opened from a reset link (the app shows nothing else). */
export function setUpPasswordReset(busy) {
  $("forgot-open").addEventListener("click", () => {
    showError("");
    showOnly("forgot-view");
    $("forgot-form").hidden = false;
    $("forgot-done").hidden = true;
    $("forgot-email").value = $("email").value;
    $("forgot-title").focus();
  });
  $("forgot-back").addEventListener("click", () => backToSignIn(""));
  $("reset-back").addEventListener("click", () => backToSignIn(""));
  $("forgot-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    if (!form.reportValidity()) return;
    busy(form.querySelector("button[type=submit]"), async () => {
      const email = $("forgot-email").value.trim();
      await publicCall("POST", "/v1/auth/password-reset", { practice: practiceSlug(), email });
      form.hidden = true;
      $("forgot-done").textContent =
        `If ${email} is the email of an account here, a link to choose a new password is on its way. It works for 30 minutes. Nothing arrived? Check your spam folder, or ask again.`;
      $("forgot-done").hidden = false;
      announce("Reset link requested.");
    });
  });
  $("reset-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    passwordProblem("");
    if (!$("reset-password").value) {
      passwordProblem("Choose a new password.");
      return;
    }
    busy(form.querySelector("button[type=submit]"), async () => {
      try {
        await publicCall("POST", "/v1/auth/password-reset/confirm", {
          practice: practiceSlug(),
          token,
          new_password: $("reset-password").value,
        });
      } catch (error) {
        $("reset-password").value = "";
        if (error.status === 404) {
          passwordProblem(LINK_FAILED);
          return;
        }
        const fields = (error.details && error.details.fields) || [];
        const words = fields.map((f) => PASSWORD_WORDS[f.type]).filter(Boolean);
        if (error.code === "validation_failed" && words.length) {
          passwordProblem(words.join(" "));
          return;
        }
        throw error;
      }
      token = "";
      form.reset();
      backToSignIn("Your password was changed, and every session of your account has ended. Sign in with your new password.");
      announce("Password changed.");
    });
  });
  token = takeTokenFromLink();
  if (!token) return false;
  showOnly("reset-view");
  $("reset-title").focus();
  return true;
}

// Step-up re-authentication: when the API answers 401 `reauthenticate` for a sensitive
// action, this dialog asks for the password and a fresh code, and the request is retried.

import { ApiError, reauthenticate, whenStepUpNeeded } from "../../shared/api.js";
import { $, describeNow } from "./ui.js";

let pending = null;

function finish(ok) {
  const dialog = $("stepup-dialog");
  if (dialog.open) dialog.close();
  $("stepup-form").reset();
  $("stepup-error").hidden = true;
  if (pending) pending(ok);
  pending = null;
}

export function setUpStepUp() {
  const dialog = $("stepup-dialog");
  whenStepUpNeeded(
    () =>
      new Promise((resolve) => {
        pending = resolve;
        dialog.showModal();
        $("stepup-password").focus();
      }),
  );
  $("stepup-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = $("stepup-confirm");
    button.disabled = true;
    try {
      await reauthenticate($("stepup-password").value, $("stepup-code").value.trim());
      finish(true);
    } catch (error) {
      const wrong = error instanceof ApiError && (error.status === 401 || error.status === 422);
      $("stepup-error").textContent = wrong
        ? "That password or code did not work. Check them and try again."
        : describeNow(error);
      $("stepup-error").hidden = false;
      $("stepup-code").value = "";
      $("stepup-password").focus();
    } finally {
      button.disabled = false;
    }
  });
  $("stepup-cancel").addEventListener("click", () => finish(false));
  dialog.addEventListener("cancel", () => finish(false));
}

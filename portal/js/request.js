// "Request an appointment" for people who are not patients yet: the public request API, with
// only what the practice needs to call back (no reason for the visit: minimum necessary).

import { practiceSlug, publicCall } from "../shared/api.js";
import { $, announce, busy } from "./ui.js";

function showRequest(open) {
  $("signin-view").hidden = open;
  $("request-view").hidden = !open;
  if (open) {
    $("request-form").hidden = false;
    $("request-done").hidden = true;
    $("request-name").focus();
  } else {
    $("request-form").reset();
    $("email").focus();
  }
}

// Phones go to the API as +<digits>; people type spaces, dashes and brackets.
function phoneDigits(value) {
  return value.replace(/[\s().-]/g, "");
}

async function send(form) {
  const body = {
    practice: practiceSlug(),
    name: $("request-name").value.trim(),
    preferred_times: $("request-times").value.trim(),
  };
  const email = $("request-email").value.trim();
  const phone = phoneDigits($("request-phone").value.trim());
  if (email) body.email = email;
  if (phone) body.phone = phone;
  await publicCall("POST", "/v1/appointment-requests", body);
  form.reset();
  form.hidden = true;
  const done = "Thank you. Your request was sent; the practice will contact you to arrange a time.";
  $("request-done").textContent = done;
  $("request-done").hidden = false;
  announce(done);
  $("request-title").focus();
}

export function setUpRequest() {
  $("request-open").addEventListener("click", (event) => {
    event.preventDefault();
    showRequest(true);
  });
  $("request-back").addEventListener("click", () => showRequest(false));
  const form = $("request-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    // One way to reach them is enough, but there must be one.
    const reachable = $("request-email").value.trim() || $("request-phone").value.trim();
    $("request-email").setCustomValidity(reachable ? "" : "Please give an email or a phone number.");
    if (!form.reportValidity()) return;
    busy($("request-send"), () => send(form));
  });
  $("request-email").addEventListener("input", () => $("request-email").setCustomValidity(""));
  $("request-phone").addEventListener("input", () => $("request-email").setCustomValidity(""));
}

// Authenticator (TOTP) enrolment: a QR code (drawn by the API as SVG, shown as an image),
// the key to type in by hand, the first code to confirm, then the recovery codes — shown
// once, never stored by the app.

import { call } from "../../../shared/api.js";
import { announce, busy, el, heading, showFormError, field, clearErrors } from "../ui.js";

function svgImage(svg) {
  const src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
  return el("img", { class: "qr", src, alt: "QR code to scan with your authenticator app", width: "200", height: "200" });
}

function grouped(secret) {
  return secret.replace(/(.{4})/g, "$1 ").trim();
}

/** Renders enrolment into `view`; onDone() runs after the recovery codes were seen. */
export async function renderEnrolment(view, { first, onDone }) {
  const start = await call("POST", "/v1/me/mfa/totp");
  const code = field(
    "Code from the app",
    { name: "code", autocomplete: "one-time-code", inputmode: "numeric", pattern: "[0-9]{6}", maxlength: "6", required: true },
    { hint: "The 6 digits your app shows for this account." },
  );
  const form = el(
    "form",
    { id: "totp-confirm", novalidate: true },
    code,
    el("button", { type: "submit", text: "Confirm" }),
  );
  const steps = el(
    "ol",
    { class: "steps" },
    el("li", { text: "Open an authenticator app on your phone (for example one your practice recommends)." }),
    el(
      "li",
      {},
      "Scan this QR code with it:",
      start.qr_svg ? el("div", {}, svgImage(start.qr_svg)) : null,
      el("p", {}, "Or type this key into the app: ", el("code", { class: "secret", text: grouped(start.secret) })),
    ),
    el("li", { text: "Enter the code the app shows to finish." }),
  );
  const level = first ? "h1" : "h2";
  view.replaceChildren(
    heading(first ? "Set up your authenticator app" : "Set up a new authenticator app", level),
    el("p", {
      text: first
        ? "Your role must use a second step when signing in. Set it up now to continue."
        : "Your old authenticator app stops working once the new one is confirmed.",
    }),
    steps,
    form,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form);
    const value = form.elements.code.value.trim();
    if (!/^\d{6}$/.test(value)) {
      showFormError(form, { details: { fields: [{ path: "body.code", type: "six_digits" }] } }, {
        six_digits: "Enter the 6 digits from your app.",
      });
      return;
    }
    busy(event.submitter, async () => {
      let result;
      try {
        result = await call("POST", "/v1/me/mfa/totp/confirm", { code: value });
      } catch (error) {
        form.elements.code.value = "";
        showFormError(form, error);
        return;
      }
      showRecoveryCodes(view, result.recovery_codes, onDone, level);
    });
  });
  view.querySelector(level).focus();
}

function showRecoveryCodes(view, codes, onDone, level) {
  const done = el("button", { type: "button", text: "I have saved my recovery codes" });
  done.addEventListener("click", () => busy(done, onDone));
  view.replaceChildren(
    heading("Save your recovery codes", level),
    el("p", {
      text: "Each code signs you in once if you lose your phone. Keep them somewhere safe (a password manager, or printed and locked away). They are not shown again.",
    }),
    el("ul", { class: "codes", "aria-label": "Recovery codes" }, ...codes.map((c) => el("li", {}, el("code", { text: c })))),
    done,
  );
  view.querySelector(level).focus();
  announce("Your authenticator app is set up.");
}

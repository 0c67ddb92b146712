// One disclosure flag for the privacy officer's review: who flagged which message, when
// and why, the incident it opened, and the withheld message itself (shown here and only
// here; the read is audited). The privacy officer can place (or release) a legal hold on
// the conversation from here without ever opening it: the review carries the thread's
// version and hold, nothing of its content.

import { call } from "../../../../shared/api.js";
import { can } from "../../permissions.js";
import { announce, busy, clearErrors, el, field, heading, showFormError } from "../../ui.js";
import { staffNames } from "../clinical/flag-ack.js";
import { REASONS, download, when } from "./common.js";

function holdPart(detail, redraw) {
  const thread = detail.thread;
  const holding = !thread.legal_hold;
  const state = thread.legal_hold
    ? el("p", { class: "notice", text: `On legal hold since ${when(thread.legal_hold.set_at)}: ${thread.legal_hold.reason}` })
    : el("p", { class: "hint", text: "Not on legal hold. A hold keeps every message of the conversation past retention until it is released." });
  if (!can("message.legal_hold")) return el("section", { class: "card", "aria-labelledby": "hold-title" }, el("h2", { id: "hold-title", text: "Legal hold" }), state);
  const form = el("form", { id: "hold-form", class: "row", novalidate: true, "aria-label": holding ? "Place a legal hold" : "Release the legal hold" },
    holding ? field("Reason for the hold", { name: "reason", maxlength: "500", autocomplete: "off" }) : null,
    el("div", {}, el("button", { type: "submit", class: holding ? "" : "quiet", text: holding ? "Place a legal hold" : "Release the legal hold" })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form);
    const body = { hold: holding, version: thread.version };
    const words = { missing: "Give a reason for the hold." };
    if (holding) {
      body.reason = form.elements.reason.value.trim();
      if (!body.reason) {
        showFormError(form, { code: "validation_failed", details: { fields: [{ path: "body.reason", type: "missing" }] } }, words);
        return;
      }
    }
    busy(event.submitter, async () => {
      try {
        await call("POST", `/v1/threads/${thread.id}/legal-hold`, body);
      } catch (error) {
        if (error.code === "version_conflict") {
          await redraw("The conversation changed meanwhile; its hold is reloaded. Try again.");
          return;
        }
        showFormError(form, error, words);
        return;
      }
      await redraw(holding ? "Legal hold placed on the conversation." : "Legal hold released.");
    });
  });
  return el("section", { class: "card", "aria-labelledby": "hold-title" }, el("h2", { id: "hold-title", text: "Legal hold" }), state, form);
}

export async function render(view, { flagId }) {
  const path = `/v1/message-flags/${encodeURIComponent(flagId)}`;
  const detail = await call("GET", path);
  const names = await staffNames();
  const { flag, message } = detail;
  const reason = Object.fromEntries(REASONS)[flag.reason] || flag.reason;
  const dl = el("dl", { class: "facts" },
    el("dt", { text: "Flagged" }), el("dd", { text: when(flag.flagged_at) }),
    el("dt", { text: "By" }), el("dd", { text: names.get(flag.flagged_by) || "A staff member" }),
    el("dt", { text: "Why" }), el("dd", { text: reason }),
    el("dt", { text: "Their note" }), el("dd", { text: flag.note || "None" }),
    el("dt", { text: "Incident" }), el("dd", { text: flag.incident_id ? `Opened (${flag.incident_id})` : "None" }),
  );
  const files = message.attachments.map((file) => {
    const b = el("button", { type: "button", class: "quiet small" }, "Download", el("span", { class: "visually-hidden", text: " attachment" }), ` ${file.filename}`);
    b.addEventListener("click", () => busy(b, () => download(file)));
    return el("p", {}, b);
  });
  view.append(
    el("p", { class: "crumbs" }, el("a", { href: "#/messages/flags", text: "Disclosure flags" })),
    heading("Disclosure flag"),
    dl,
    el("section", { class: "card", "aria-labelledby": "flagged-title" },
      el("h2", { id: "flagged-title", text: "The flagged message" }),
      el("p", { class: "when" }, el("strong", { text: message.author_name }), `, ${when(message.sent_at)}`),
      el("p", { class: "message-body", text: message.body || "" }),
      ...files,
      el("p", { class: "hint", text: "Everyone else sees only that this message is withheld." })),
  );
  const holdBox = el("div", {}, holdPart(detail, redraw));
  view.append(holdBox);

  async function redraw(message) {
    holdBox.replaceChildren(holdPart(await call("GET", path), redraw));
    announce(message);
  }
}

// One disclosure flag for the privacy officer's review: who flagged which message, when
// and why, the incident it opened, and the withheld message itself (shown here and only
// here; the read is audited).

import { call } from "../../../../shared/api.js";
import { busy, el, heading } from "../../ui.js";
import { staffNames } from "../clinical/flag-ack.js";
import { REASONS, download, when } from "./common.js";

export async function render(view, { flagId }) {
  const detail = await call("GET", `/v1/message-flags/${encodeURIComponent(flagId)}`);
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
}

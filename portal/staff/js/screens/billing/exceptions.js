// The posting exception queue: whatever an 835 (or a 999/277CA) could not post by itself —
// a file out of balance, a claim or line we cannot match, an acknowledgement for a batch we
// never sent, an unreadable file. Nothing is dropped: each stays here until a biller closes
// it saying how it was dealt with (the money itself moves through a payment, an adjustment
// or a corrected claim). Files can also be received here by pasting their text.

import { call } from "../../../../shared/api.js";
import { can } from "../../permissions.js";
import { announce, busy, clearErrors, el, field, formatWhen, heading, showFormError, table } from "../../ui.js";
import { money } from "./common.js";

const KINDS = {
  unbalanced_file: "File out of balance",
  unbalanced_claim: "Claim out of balance",
  unmatched_claim: "No such claim",
  unmatched_line: "Line not matched",
  unmatched_acknowledgement: "Acknowledgement for an unknown batch",
  unreadable: "Unreadable file",
};
const RESOLUTIONS = [
  ["posted_by_hand", "Posted by hand (payment or adjustment recorded)"],
  ["claim_corrected", "Claim corrected and sent again"],
  ["payer_contacted", "Payer contacted; waiting for a new remittance"],
  ["duplicate", "Duplicate of something already posted"],
  ["not_ours", "Not ours (another practice's claim)"],
  ["other", "Other (say what in the note)"],
];

export async function render(view) {
  const state = { status: "open" };
  const list = el("section", { id: "exceptions", "aria-labelledby": "exceptions-title" });
  const showing = field("Show", { name: "status", id: "exception-status" }, { tag: "select", options: [["open", "Open"], ["resolved", "Resolved"]] });

  async function draw(message) {
    const data = await call("GET", `/v1/billing/exceptions?status=${state.status}&limit=100`);
    const title = el("h2", { id: "exceptions-title", tabindex: "-1", text: state.status === "open" ? `${data.items.length} open` : `${data.items.length} resolved` });
    list.replaceChildren(
      title,
      table(
        state.status === "open" ? "Open posting exceptions, oldest first" : "Resolved posting exceptions",
        ["Received", "Problem", "Claim", "Amount", "Detail", state.status === "open" ? "Resolve" : "Resolution"],
        data.items.map((e) => [
          formatWhen(e.at, { dateStyle: "medium", timeStyle: "short" }),
          KINDS[e.kind] || e.kind,
          e.claim_ref || "",
          money(e.amount),
          e.message,
          state.status === "open" ? resolveCell(e, draw) : `${(RESOLUTIONS.find(([k]) => k === e.resolution) || [null, e.resolution])[1]}${e.note ? ` — ${e.note}` : ""}`,
        ]),
        state.status === "open" ? "Nothing waiting: every remittance posted." : "Nothing resolved yet.",
      ),
    );
    if (message) {
      announce(message);
      title.focus();
    }
  }
  showing.querySelector("select").addEventListener("change", (e) => {
    state.status = e.target.value;
    draw();
  });
  await draw();
  view.append(
    heading("Posting exceptions"),
    el("p", { class: "hint", text: "Remittance items that did not post by themselves. Deal with each (a payment, an adjustment, a corrected claim), then close it here saying how." }),
    showing,
    list,
  );
  if (can("remittance.post")) view.append(receiveForm(draw));
}

function resolveCell(e, redraw) {
  if (!can("billing.exception.resolve")) return "";
  const open = el("button", { type: "button", class: "small", text: "Resolve" }, el("span", { class: "visually-hidden", text: ` ${KINDS[e.kind] || e.kind} ${e.claim_ref || ""}` }));
  const form = el(
    "form",
    { hidden: true, class: "inline-form", novalidate: true, "aria-label": "Resolve this exception" },
    field("How was it dealt with?", { name: "resolution", id: `res-${e.id}` }, { tag: "select", options: RESOLUTIONS }),
    field("Note (optional)", { name: "note", id: `note-${e.id}`, maxlength: "200", autocomplete: "off" }, { hint: "Claim numbers, trace or check numbers; no clinical detail." }),
    el("div", { class: "actions" }, el("button", { type: "submit", class: "small", text: "Close exception" }), el("button", { type: "button", class: "quiet small", text: "Cancel" })),
  );
  const cancel = form.querySelector("button[type=button]");
  open.addEventListener("click", () => {
    form.hidden = false;
    open.hidden = true;
    form.querySelector("select").focus();
  });
  cancel.addEventListener("click", () => {
    form.hidden = true;
    open.hidden = false;
    open.focus();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form);
    busy(event.submitter, async () => {
      const note = form.elements.note.value.trim();
      try {
        await call("POST", `/v1/billing/exceptions/${encodeURIComponent(e.id)}/resolve`, {
          version: e.version,
          resolution: form.elements.resolution.value,
          ...(note ? { note } : {}),
        });
      } catch (error) {
        if (error.status === 409) {
          await redraw("Someone resolved this exception meanwhile. The list is up to date.");
          return;
        }
        showFormError(form, error, { string_pattern_mismatch: "Use letters, digits and . , ; : ( ) ' / # - only." });
        return;
      }
      await redraw("Exception closed.");
    });
  });
  return el("div", {}, open, form);
}

function receiveForm(redraw) {
  const form = el(
    "form",
    { id: "receive-form", novalidate: true, "aria-labelledby": "receive-title" },
    el("h2", { id: "receive-title", text: "Receive a file by hand" }),
    el("p", { class: "hint", text: "For a 999, 277CA or 835 that came another way (a payer portal, another system). An 835 posts at once; what cannot post lands in this queue." }),
    field("File content (X12)", { name: "content", rows: "6", spellcheck: "false", autocomplete: "off" }, { tag: "textarea" }),
    el("div", { class: "actions" }, el("button", { type: "submit", text: "Receive and post" })),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form);
    busy(event.submitter, async () => {
      let got;
      try {
        got = await call("POST", "/v1/billing/inbound", { content: form.elements.content.value.trim() });
      } catch (error) {
        showFormError(form, error, { string_too_short: "Paste the whole file (it starts with ISA)." });
        return;
      }
      form.reset();
      await redraw(`${got.kind} received: ${got.claims_posted} claim${got.claims_posted === 1 ? "" : "s"} posted, ${got.claims_updated} updated, ${got.exceptions} exception${got.exceptions === 1 ? "" : "s"}${got.balanced === false ? " (the file is out of balance: nothing posted)" : ""}.`);
    });
  });
  return form;
}

// Billing work queues. "Ready to bill": signed notes' charges not yet on a claim (build a
// claim from one patient's charges, or bill a charge to the patient as self-pay). Claims by
// status: "Has problems" (what failed validation), "Ready to batch" (pick claims, batch
// them into one validated 837P and send it to the clearinghouse), submitted, rejected,
// accepted, denied, paid. "Collect responses" applies the clearinghouse's 999/277CA/835.
// The queue choice stays in this page's memory (never the address).

import { call } from "../../../../shared/api.js";
import { can } from "../../permissions.js";
import { announce, busy, el, field, heading, table } from "../../ui.js";
import { dateText, money, patientLabel, refusal, STATUS_WORDS, statusBadge } from "./common.js";

const QUEUES = [
  ["ready", "Ready to bill (charges)"],
  ["invalid", STATUS_WORDS.invalid],
  ["validated", STATUS_WORDS.validated],
  ["submitted", STATUS_WORDS.submitted],
  ["rejected", STATUS_WORDS.rejected],
  ["accepted", STATUS_WORDS.accepted],
  ["denied", STATUS_WORDS.denied],
  ["partial", STATUS_WORDS.partial],
  ["paid", STATUS_WORDS.paid],
  ["void", STATUS_WORDS.void],
];

const HINTS = {
  ready: "Charges from signed notes. Tick one patient's charges and build a claim; it is validated as an 837P (pyx12 and our rules) at once.",
  invalid: "Claims that failed validation. Open one to read each problem (loop, segment, element).",
  validated: "Claims that passed validation. Tick the ones to send and batch them: the whole file is validated again before it goes to the clearinghouse.",
  submitted: "Sent; waiting for the clearinghouse's 999 and the payer's 277CA. Collect responses to apply them.",
  rejected: "The payer never received these (999 or 277CA rejection). Open one to see why; fix the set-up and bill the charges again.",
  accepted: "Accepted by the payer (their claim number is kept); waiting for the 835.",
  denied: "Denied in an 835. Open one to correct it (replacement, frequency 7) or void it (frequency 8).",
  partial: "Paid in part. Open one to see the lines and adjustments.",
  paid: "Paid in full by the payer.",
  void: "Voided.",
};

export async function render(view) {
  const state = { queue: "ready" };
  const picker = field("Work queue", { name: "queue", id: "billing-queue" }, { tag: "select", options: QUEUES });
  const select = picker.querySelector("select");
  const results = el("section", { id: "billing-results", "aria-labelledby": "queue-title" });
  const collect = can("remittance.post")
    ? el("button", { type: "button", class: "quiet", id: "collect", text: "Collect clearinghouse responses" })
    : null;

  async function draw(message) {
    const title = el("h2", { id: "queue-title", tabindex: "-1", text: QUEUES.find(([k]) => k === state.queue)[1] });
    const hint = el("p", { class: "hint", text: HINTS[state.queue] });
    const body = state.queue === "ready" ? await readyToBill(draw) : await claims(state.queue, draw);
    results.replaceChildren(title, hint, ...body);
    if (message) {
      announce(message);
      title.focus();
    }
  }

  select.addEventListener("change", () => {
    state.queue = select.value;
    draw().catch(() => announce("The queue could not load."));
  });
  if (collect) {
    collect.addEventListener("click", () =>
      busy(collect, async () => {
        const got = await call("POST", "/v1/billing/clearinghouse/collect");
        const applied = got.items.filter((i) => !i.error);
        const updated = applied.reduce((n, i) => n + i.claims_updated + i.claims_posted, 0);
        const exceptions = got.items.reduce((n, i) => n + i.exceptions, 0);
        await draw(
          got.items.length
            ? `${got.items.length} response file${got.items.length === 1 ? "" : "s"} applied: ${updated} claim update${updated === 1 ? "" : "s"}, ${exceptions} exception${exceptions === 1 ? "" : "s"}.`
            : "No response files were waiting.",
        );
      }),
    );
  }
  await draw();
  view.append(
    heading("Billing"),
    el("div", { class: "inline" }, picker, collect),
    results,
  );
}

async function readyToBill(redraw) {
  const data = await call("GET", "/v1/charges?limit=100");
  const picked = new Set();
  const rows = [];
  for (const c of data.items) {
    const box = el("input", { type: "checkbox", id: `pick-${c.id}`, value: c.id });
    box.addEventListener("change", () => (box.checked ? picked.add(c.id) : picked.delete(c.id)));
    const codes = c.lines.map((l) => (l.units > 1 ? `${l.cpt_code} ×${l.units}` : l.cpt_code)).join(", ") + (c.modifiers.length ? ` (${c.modifiers.join(", ")})` : "");
    const label = await patientLabel(c.patient_id);
    const selfPay = can("claim.create")
      ? el("button", { type: "button", class: "quiet small", text: "Bill to patient" }, el("span", { class: "visually-hidden", text: ` (${label}, ${c.service_date})` }))
      : null;
    if (selfPay) {
      selfPay.addEventListener("click", () =>
        busy(selfPay, async () => {
          await call("POST", `/v1/charges/${encodeURIComponent(c.id)}/self-pay`);
          await redraw(`Billed to ${label} as self-pay.`);
        }),
      );
    }
    rows.push([
      el("span", {}, box, el("label", { for: box.id, class: "visually-hidden", text: `Choose ${label}, ${c.service_date}` })),
      dateText(c.service_date),
      el("a", { href: `#/billing/patients/${c.patient_id}`, text: label }),
      codes,
      c.minutes ? `${c.minutes} min` : "",
      c.place_of_service || "",
      c.diagnoses.join(", "),
      selfPay,
    ]);
  }
  const out = [
    table(
      "Charges ready to bill, oldest first",
      ["Choose", "Date of service", "Patient", "Codes", "Minutes", "Place", "Diagnoses", ""],
      rows,
      "Nothing to bill. Charges appear here when a clinician signs a note.",
    ),
  ];
  if (rows.length && can("claim.create")) {
    const build = el("button", { type: "button", id: "build-claim", text: "Build a claim from the chosen charges" });
    build.addEventListener("click", () =>
      busy(build, async () => {
        if (!picked.size) {
          announce("Choose at least one charge first.");
          return;
        }
        let claim;
        try {
          claim = await call("POST", "/v1/claims", { charge_ids: [...picked] });
        } catch (error) {
          if (error.status !== 422) throw error;
          refusal(refused, "This claim cannot be built", error);
          return;
        }
        location.hash = `#/billing/claims/${claim.id}`;
        announce(claim.status === "validated" ? "Claim built and validated." : "Claim built; it has problems to fix.");
      }),
    );
    const refused = el("div", { id: "build-refused" });
    out.push(el("p", { class: "hint", text: "One patient and one clinician per claim." }), refused, el("div", { class: "actions" }, build));
  }
  return out;
}

/** The status, and "Follow up" when the claim's workflow found it waiting too long. */
function followUp(c) {
  const last = c.history[c.history.length - 1];
  if (!last || last.event !== "follow_up") return statusBadge(c.status);
  return el("span", {}, statusBadge(c.status), " ", el("span", { class: "badge warn", text: "Follow up" }), el("span", { class: "hint", text: ` ${last.detail.replace(/^\w+ \d+: /, "")}` }));
}

async function claims(status, redraw) {
  const data = await call("GET", `/v1/claims?status=${encodeURIComponent(status)}&limit=100`);
  const picked = new Set();
  const batching = status === "validated" && can("claim.submit");
  const rows = [];
  for (const c of data.items) {
    const label = await patientLabel(c.patient_id);
    const row = [
      el("a", { href: `#/billing/claims/${c.id}`, text: c.pcn }),
      el("a", { href: `#/billing/patients/${c.patient_id}`, text: label }),
      dateText(c.lines[0] ? c.lines[0].service_date : c.created_at.slice(0, 10)),
      c.lines.map((l) => [l.procedure, ...l.modifiers].join("-")).join(", "),
      money(c.total),
      c.frequency === "1" ? "Original" : c.frequency === "7" ? "Replacement" : "Void",
      followUp(c),
      c.status === "invalid" ? `${c.problems.length} problem${c.problems.length === 1 ? "" : "s"}` : c.payer_claim_number || "",
    ];
    if (batching) {
      const box = el("input", { type: "checkbox", id: `batch-${c.id}`, value: c.id, checked: true });
      picked.add(c.id);
      box.addEventListener("change", () => (box.checked ? picked.add(c.id) : picked.delete(c.id)));
      row.unshift(el("span", {}, box, el("label", { for: box.id, class: "visually-hidden", text: `Send claim ${c.pcn}` })));
    }
    rows.push(row);
  }
  const columns = ["Claim", "Patient", "Date of service", "Codes", "Charge", "Kind", "Status", status === "invalid" ? "Problems" : "Payer claim no."];
  const out = [
    table(`Claims: ${STATUS_WORDS[status]}, oldest first`, batching ? ["Send", ...columns] : columns, rows, "No claims in this queue."),
  ];
  if (batching && rows.length) {
    const send = el("button", { type: "button", id: "submit-batch", text: "Batch and send to the clearinghouse" });
    send.addEventListener("click", () =>
      busy(send, async () => {
        if (!picked.size) {
          announce("Choose at least one claim first.");
          return;
        }
        let batch;
        try {
          batch = await call("POST", "/v1/claim-batches", { claim_ids: [...picked] });
        } catch (error) {
          if (error.status !== 422) throw error;
          refusal(batchRefused, "The batch did not validate", error);
          return;
        }
        await call("POST", `/v1/claim-batches/${encodeURIComponent(batch.id)}/submit`);
        await redraw(`Batch of ${batch.claim_count} claim${batch.claim_count === 1 ? "" : "s"} (${money(batch.total)}) validated and sent to the clearinghouse.`);
      }),
    );
    const batchRefused = el("div", { id: "batch-refused" });
    out.push(batchRefused, el("div", { class: "actions" }, send));
  }
  return out;
}

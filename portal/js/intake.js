// "Getting started": the intake checklist. Steps open one at a time (the practice's
// workflow decides): confirm who you are, fill in the forms, sign the consents, photograph
// the insurance card, book the first visit. Everything is saved on the server, so the
// checklist picks up where it was on any device. Forms are drawn from the template's JSON
// Schema: objects are fieldsets, yes/no and "I agree" are checkboxes, choices are selects.

import { call } from "../shared/api.js";
import { fillSlots, loadOfferedSlots, slotsMessage } from "./slots.js";
import { $, announce, busy, el, formatDay, formatTime, formatWhen, localDate, showError } from "./ui.js";

const STEP_NAMES = {
  identity: "Confirm who you are",
  forms: "Fill in your forms",
  consents: "Read and sign the consents",
  insurance: "Add your insurance card",
  review: "Your clinician reviews",
  appointment: "Book your first visit",
};

let state = null;

function stepItem(step) {
  const done = step.status === "done";
  const current = state.current_step === step.step && !done;
  const label = done ? "done" : current ? "to do now" : "later";
  return el(
    "li",
    { class: current ? "step current" : "step", "aria-current": current ? "step" : false },
    el("span", { text: `${STEP_NAMES[step.step] || step.step}: ${label}` }),
  );
}

function area(...children) {
  $("intake-area").replaceChildren(...children);
  $("intake-area").hidden = children.length === 0;
}

// ---- identity -------------------------------------------------------------------------

function identityForm() {
  const dob = el("input", { id: "intake-dob", type: "date", required: true, autocomplete: "bday" });
  const form = el(
    "form",
    { id: "intake-identity", novalidate: true },
    el("h3", { id: "intake-step-title", tabindex: "-1", text: "Confirm who you are" }),
    el("p", {
      text: "Enter your date of birth. We then send a one-time code to the email (or mobile) the practice has on file.",
    }),
    el("label", { for: "intake-dob", text: "Date of birth" }),
    dob,
    el("div", { class: "actions" }, el("button", { type: "submit", text: "Send me a code" })),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!dob.value) {
      showError("Please enter your date of birth.");
      dob.focus();
      return;
    }
    busy(form.querySelector("button"), async () => {
      const sent = await call("POST", "/v1/me/intake/identity", { date_of_birth: dob.value });
      codeForm(sent.sent_to);
    });
  });
  return form;
}

function codeForm(channel) {
  const code = el("input", {
    id: "intake-code",
    inputmode: "numeric",
    autocomplete: "one-time-code",
    pattern: "[0-9]{6}",
    maxlength: "6",
    required: true,
  });
  const form = el(
    "form",
    { id: "intake-code-form", novalidate: true },
    el("h3", { id: "intake-step-title", tabindex: "-1", text: "Enter your code" }),
    el("p", { text: `We sent a 6-digit code by ${channel === "sms" ? "text message" : "email"}. It works for 15 minutes.` }),
    el("label", { for: "intake-code", text: "One-time code" }),
    code,
    el("div", { class: "actions" }, el("button", { type: "submit", text: "Confirm" })),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(form.querySelector("button"), async () => {
      await call("POST", "/v1/me/intake/identity/code", { code: code.value.trim() });
      announce("Thank you. Your identity is confirmed.");
      await loadIntake(true, true);
    });
  });
  area(form);
  code.focus();
}

// ---- forms from a JSON Schema ---------------------------------------------------------

let fieldCount = 0;

function fieldFor(name, schema, value, path) {
  const id = `intake-f${++fieldCount}`;
  const title = schema.title || name;
  if (schema.type === "object" || schema.properties) {
    const children = Object.entries(schema.properties || {}).map(([key, sub]) =>
      fieldFor(key, sub, value ? value[key] : undefined, [...path, key]),
    );
    return el("fieldset", { "data-path": path.join("/") }, el("legend", { text: title }), ...children);
  }
  if (schema.const === true || schema.type === "boolean") {
    const box = el("input", { type: "checkbox", id, "data-path": path.join("/"), "data-kind": schema.const === true ? "const" : "boolean" });
    box.checked = value === true;
    return el("div", { class: "check" }, box, el("label", { for: id, text: title }));
  }
  if (schema.type === "array" && schema.items && schema.items.enum) {
    const chosen = new Set(value || []);
    return el(
      "fieldset",
      { "data-path": path.join("/"), "data-kind": "multi" },
      el("legend", { text: title }),
      ...schema.items.enum.map((option, i) => {
        const box = el("input", { type: "checkbox", id: `${id}-${i}`, value: option });
        box.checked = chosen.has(option);
        return el("div", { class: "check" }, box, el("label", { for: `${id}-${i}`, text: option.replaceAll("_", " ") }));
      }),
    );
  }
  let input;
  if (schema.enum) {
    input = el("select", { id }, el("option", { value: "", text: "Choose…" }), ...schema.enum.map((o) => el("option", { value: o, text: String(o).replaceAll("_", " ") })));
  } else if (schema.type === "integer" && schema.maximum !== undefined && schema.maximum - (schema.minimum || 0) <= 10) {
    const options = [];
    for (let n = schema.minimum || 0; n <= schema.maximum; n += 1) options.push(el("option", { value: String(n), text: String(n) }));
    input = el("select", { id }, el("option", { value: "", text: "Choose…" }), ...options);
  } else if (schema.type === "integer" || schema.type === "number") {
    input = el("input", { id, type: "number" });
  } else if (schema.format === "date") {
    input = el("input", { id, type: "date" });
  } else if ((schema.maxLength || 0) > 300) {
    input = el("textarea", { id, rows: "3" });
  } else {
    input = el("input", { id, type: schema.format === "email" ? "email" : "text" });
  }
  input.dataset.path = path.join("/");
  input.dataset.kind = schema.type === "integer" || schema.type === "number" ? "number" : "text";
  if (value !== undefined && value !== null) input.value = String(value);
  return el("div", { class: "field" }, el("label", { for: id, text: title }), input);
}

function setAt(target, path, value) {
  let node = target;
  path.slice(0, -1).forEach((key) => {
    node[key] = node[key] || {};
    node = node[key];
  });
  node[path[path.length - 1]] = value;
}

function contentOf(form) {
  const content = {};
  for (const input of form.querySelectorAll("[data-path]")) {
    const path = input.dataset.path.split("/").filter(Boolean);
    if (!path.length || input.tagName === "FIELDSET" && input.dataset.kind !== "multi") continue;
    if (input.dataset.kind === "multi") {
      const picked = [...input.querySelectorAll("input:checked")].map((b) => b.value);
      if (picked.length) setAt(content, path, picked);
    } else if (input.type === "checkbox") {
      if (input.checked) setAt(content, path, true);
      else if (input.dataset.kind === "boolean") setAt(content, path, false);
    } else if (input.value !== "") {
      setAt(content, path, input.dataset.kind === "number" ? Number(input.value) : input.value);
    }
  }
  return content;
}

async function openForm(item) {
  const data = await call("GET", `/v1/me/intake/forms/${encodeURIComponent(item.key)}`);
  fieldCount = 0;
  const saved = data.response ? data.response.content : {};
  const fields = Object.entries(data.schema.properties || {}).map(([key, sub]) =>
    fieldFor(key, sub, saved[key], [key]),
  );
  const consent = data.kind === "consent";
  const signer = el("input", { id: "intake-signer", autocomplete: "name", required: true });
  const agree = el("input", { id: "intake-agree", type: "checkbox" });
  const form = el(
    "form",
    { id: "intake-form", "aria-labelledby": "intake-step-title", novalidate: true },
    el("h3", { id: "intake-step-title", tabindex: "-1", text: data.title }),
    data.description ? el("p", { text: data.description }) : null,
    data.instructions ? el("p", { class: "hint", text: data.instructions }) : null,
    ...fields,
    consent ? el("h4", { text: "Your signature" }) : null,
    consent ? el("label", { for: "intake-signer", text: "Type your full name" }) : null,
    consent ? signer : null,
    consent
      ? el("div", { class: "check" }, agree, el("label", { for: "intake-agree", text: "I have read this document and I sign it electronically." }))
      : null,
    consent ? el("p", { class: "hint", text: `Document fingerprint: ${data.document_hash.slice(0, 16)}…` }) : null,
    el(
      "div",
      { class: "actions" },
      el("button", { type: "submit", text: consent ? "Sign" : "Submit" }),
      consent ? null : el("button", { type: "button", class: "quiet", id: "intake-save", text: "Save for later" }),
      el("button", { type: "button", class: "quiet", onclick: () => area(), text: "Close" }),
    ),
  );
  const version = data.response ? data.response.version : 0;
  async function save(submit) {
    const content = contentOf(form);
    if (consent) {
      if (!signer.value.trim() || !agree.checked) {
        showError("To sign, type your full name and tick the box.");
        (signer.value.trim() ? agree : signer).focus();
        return;
      }
      await call("POST", `/v1/me/intake/consents/${encodeURIComponent(item.key)}/sign`, {
        content,
        signer_name: signer.value.trim(),
        document_hash: data.document_hash,
        agree: true,
      });
      announce(`Signed: ${data.title}. A copy is in your documents.`);
      await loadIntake(true, state.consents.every((c) => c.key === item.key || c.status === "done"));
      return;
    } else {
      await call("PUT", `/v1/me/intake/forms/${encodeURIComponent(item.key)}`, { version, content, submit });
      announce(submit ? `Sent: ${data.title}.` : `Saved: ${data.title}.`);
    }
    await loadIntake(true, submit && state.forms.every((f) => f.key === item.key || f.status === "done"));
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(form.querySelector("button[type=submit]"), () => save(true));
  });
  const later = form.querySelector("#intake-save");
  if (later) later.addEventListener("click", (event) => busy(event.currentTarget, () => save(false)));
  area(form);
  form.querySelector("h3").focus();
}

// ---- 42 CFR Part 2 consent: every element shown; sign or decline (it is voluntary) -------

const PURPOSES = {
  treatment: "Treatment",
  payment: "Payment",
  health_care_operations: "Health care operations",
  other: "Other",
};

/** A calendar date ("2027-12-06") as words, the same day wherever the reader is. */
function formatDate(isoDate) {
  return new Date(`${isoDate}T12:00:00Z`).toLocaleDateString(undefined, { dateStyle: "long", timeZone: "UTC" });
}

function part2Section(heading, text) {
  return [el("h4", { text: heading }), el("p", { text })];
}

async function openPart2() {
  const data = await call("GET", "/v1/me/intake/part2");
  const d = data.document;
  const signer = el("input", { id: "intake-part2-signer", autocomplete: "name" });
  const agree = el("input", { id: "intake-part2-agree", type: "checkbox" });
  const until = [d.expires_on ? formatDate(d.expires_on) : "", d.expiration_event].filter(Boolean).join(", or ");
  const form = el(
    "form",
    { id: "intake-part2", "aria-labelledby": "intake-step-title", novalidate: true },
    el("h3", { id: "intake-step-title", tabindex: "-1", text: d.title }),
    el("p", { class: "hint", text: "You choose whether to sign. Saying no does not change your care." }),
    ...part2Section("Patient", d.patient_name),
    ...part2Section("Who may disclose", d.disclosing_program),
    ...part2Section("What may be disclosed", d.information),
    el("h4", { text: "To whom" }),
    el("ul", {}, ...d.recipients.map((r) => el("li", { text: r.name }))),
    ...part2Section("For what purpose", `${d.purposes.map((p) => PURPOSES[p] || p).join(", ")}. ${d.purpose_description}`),
    ...part2Section("This consent ends", until),
    ...part2Section("Your right to revoke", d.revocation_statement),
    ...part2Section("Redisclosure", d.redisclosure_statement),
    ...part2Section("Not a condition of treatment", d.not_conditioned_statement),
    el("h4", { text: "Your decision" }),
    el("label", { for: "intake-part2-signer", text: "Type your full name to sign" }),
    signer,
    el("div", { class: "check" }, agree, el("label", { for: "intake-part2-agree", text: "I have read this consent and I sign it electronically." })),
    el("p", { class: "hint", text: `Document fingerprint: ${data.document_hash.slice(0, 16)}…` }),
    el(
      "div",
      { class: "actions" },
      el("button", { type: "submit", text: "Sign" }),
      el("button", { type: "button", class: "quiet", id: "intake-part2-decline", text: "I do not consent" }),
      el("button", { type: "button", class: "quiet", onclick: () => area(), text: "Close" }),
    ),
  );
  const others = () => state.consents.every((c) => c.kind === "part2" || c.status === "done");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!signer.value.trim() || !agree.checked) {
      showError("To sign, type your full name and tick the box.");
      (signer.value.trim() ? agree : signer).focus();
      return;
    }
    busy(form.querySelector("button[type=submit]"), async () => {
      await call("POST", "/v1/me/intake/part2", {
        decision: "sign",
        signer_name: signer.value.trim(),
        document_hash: data.document_hash,
        agree: true,
      });
      announce("Signed: the Part 2 consent. A copy is in your documents.");
      await loadIntake(true, others());
    });
  });
  form.querySelector("#intake-part2-decline").addEventListener("click", (event) =>
    busy(event.currentTarget, async () => {
      await call("POST", "/v1/me/intake/part2", { decision: "decline" });
      announce("Noted: you did not sign the Part 2 consent.");
      await loadIntake(true, others());
    }),
  );
  area(form);
  form.querySelector("h3").focus();
}

const ITEM_STATUS = { done: "done", draft: "started", declined: "declined" };

function itemList(items, label) {
  return el(
    "ul",
    { class: "appts", "aria-label": label },
    ...items.map((item) =>
      el(
        "li",
        { class: "appt" },
        el("p", { class: "when", text: `${item.title} — ${ITEM_STATUS[item.status] || "to do"}` }),
        item.kind === "part2" && item.status === "done"
          ? null
          : el(
              "button",
              {
                type: "button",
                onclick: (e) => busy(e.currentTarget, () => (item.kind === "part2" ? openPart2() : openForm(item))),
              },
              item.kind === "part2"
                ? "Read and decide"
                : item.status === "done"
                  ? "View or change"
                  : item.kind === "consent"
                    ? "Read and sign"
                    : "Fill in",
              el("span", { class: "visually-hidden", text: ` ${item.title}` }),
            ),
      ),
    ),
  );
}

// ---- insurance card -------------------------------------------------------------------

function cardForm() {
  const inputs = ["front", "back"].map((side) =>
    el("input", { id: `intake-card-${side}`, type: "file", accept: "image/jpeg,image/png,image/webp" }),
  );
  const form = el(
    "form",
    { id: "intake-card", novalidate: true },
    el("p", { text: "Take or choose a photo of each side (JPEG, PNG or WebP, up to 4 MB). We keep only the picture: location and camera details are removed." }),
    ...["front", "back"].flatMap((side, i) => [
      el("label", { for: `intake-card-${side}`, text: `Card ${side}${state.cards.includes(side) ? " (uploaded; choose again to replace)" : ""}` }),
      inputs[i],
    ]),
    el("div", { class: "actions" }, el("button", { type: "submit", text: "Upload" })),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(form.querySelector("button"), async () => {
      let sent = 0;
      for (const [i, side] of ["front", "back"].entries()) {
        const file = inputs[i].files[0];
        if (!file) continue;
        const base64 = await new Promise((resolve, reject) => {
          const reader = new FileReader();
          reader.onload = () => resolve(String(reader.result).split(",")[1]);
          reader.onerror = () => reject(reader.error);
          reader.readAsDataURL(file);
        });
        await call("POST", `/v1/me/intake/insurance-card/${side}`, { content_base64: base64 });
        sent += 1;
      }
      if (!sent) {
        showError("Choose a photo of the front or the back first.");
        return;
      }
      announce("Thank you. Your card was uploaded.");
      await loadIntake(true, true);
    });
  });
  return form;
}

// ---- the first visit ------------------------------------------------------------------
// The practice offers its first-visit service with the patient's clinicians: the same
// free-time choices as online booking (slots.js). A visit already booked (by phone, or
// by the practice) can be confirmed instead.

function confirmBooked(booked) {
  const select = el(
    "select",
    { id: "intake-appointment" },
    ...booked.map((a) => el("option", { value: a.id, text: formatWhen(a.start) })),
  );
  const form = el(
    "form",
    { id: "intake-appointment-form", "aria-labelledby": "intake-booked-title" },
    el("h3", { id: "intake-booked-title", text: "A visit already booked" }),
    el("label", { for: "intake-appointment", text: "Your first visit" }),
    select,
    el("div", { class: "actions" }, el("button", { type: "submit", text: "This is my first visit" })),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(form.querySelector("button"), async () => {
      await call("POST", "/v1/me/intake/appointment", { appointment_id: select.value });
      announce("Thank you. You are all set.");
      await loadIntake(true, true);
    });
  });
  return form;
}

function bookOffered(offer) {
  const clinician = el(
    "select",
    { id: "intake-clinician" },
    ...offer.clinicians.map((c) =>
      el("option", { value: c.id, text: c.credentials ? `${c.display_name}, ${c.credentials}` : c.display_name }),
    ),
  );
  const today = localDate(new Date());
  const from = el("input", { id: "intake-from", type: "date", min: today, value: today, required: true });
  const slot = el("select", { id: "intake-slot" });
  const pick = el(
    "div",
    { id: "intake-slot-pick", hidden: true },
    el("label", { for: "intake-slot", text: "Time" }),
    slot,
    el("div", { class: "actions" }, el("button", { type: "button", id: "intake-book", text: "Book this time" })),
  );
  async function show() {
    const items = await loadOfferedSlots(clinician.value, from.value);
    fillSlots(slot, items);
    pick.hidden = items.length === 0;
    announce(slotsMessage(items.length));
    if (items.length) slot.focus();
  }
  async function book() {
    const [start, locationId] = JSON.parse(slot.value);
    const booking = { clinician_id: clinician.value, location_id: locationId, start };
    try {
      await call("POST", "/v1/me/intake/appointment", { booking });
    } catch (error) {
      if (error.status === 409 || error.status === 422) await show(); // taken meanwhile
      throw error;
    }
    announce(`Booked: ${formatDay(start)}, ${formatTime(start)}. You are all set.`);
    await loadIntake(true, true);
  }
  const form = el(
    "form",
    { id: "intake-book-form", "aria-labelledby": "intake-book-title", novalidate: true },
    el("h3", { id: "intake-book-title", text: `Book your first visit: ${offer.service.name} (${offer.service.duration_minutes} minutes)` }),
    el("label", { for: "intake-clinician", text: "Clinician" }),
    clinician,
    el("label", { for: "intake-from", text: "From" }),
    from,
    el("div", { class: "actions" }, el("button", { type: "submit", text: "Show times" })),
    pick,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!from.value) {
      showError("Please choose a date.");
      from.focus();
      return;
    }
    busy(event.submitter || form.querySelector("button[type=submit]"), show);
  });
  pick.querySelector("#intake-book").addEventListener("click", (event) => busy(event.currentTarget, book));
  return form;
}

async function appointmentForm() {
  const offer = await call("GET", "/v1/me/intake/appointment");
  const parts = [];
  if (offer.service && offer.clinicians.length) parts.push(bookOffered(offer));
  if (offer.booked.length) parts.push(confirmBooked(offer.booked));
  if (!parts.length) {
    parts.push(el("p", { text: "The practice will contact you to book your first visit. You can also call them." }));
  }
  return el("div", {}, ...parts);
}

// ---- the checklist --------------------------------------------------------------------

async function current() {
  const step = state.current_step;
  const parts = [];
  if (state.review_comment && state.status === "changes_requested") {
    parts.push(el("p", { class: "notice", text: `Your clinician asked: ${state.review_comment}` }));
  }
  if (state.status === "stalled") {
    parts.push(el("p", { class: "notice", text: "The practice will contact you to help you finish. You can also call them." }));
    return parts;
  }
  if (step === "identity") parts.push(identityForm());
  else if (step === "forms") parts.push(itemList(state.forms, "Forms"));
  else if (step === "consents") parts.push(itemList(state.consents, "Consents"));
  else if (step === "insurance") parts.push(cardForm());
  else if (step === "review") parts.push(el("p", { text: "Thank you. Your clinician is reviewing what you sent; we will let you know if anything is missing." }));
  else if (step === "appointment") parts.push(await appointmentForm());
  return parts;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** After finishing a step, the practice's workflow opens the next one a moment later. */
async function fetchChecklist(after) {
  let data = await call("GET", "/v1/me/intake");
  for (let i = 0; after && i < 40 && data.current_step === after; i += 1) {
    await sleep(500);
    data = await call("GET", "/v1/me/intake");
  }
  return data;
}

export async function loadIntake(focus = false, next = false) {
  // next: the patient just finished a step; wait (up to 20 s) for the next one to open.
  const before = next && state ? state.current_step : null;
  try {
    state = await fetchChecklist(before);
  } catch (error) {
    if (error && error.status === 404) {
      $("intake").hidden = true;
      $("intake-nav").hidden = true;
      state = null;
      return;
    }
    throw error;
  }
  $("intake").hidden = false;
  $("intake-nav").hidden = false;
  $("intake-steps").replaceChildren(...state.steps.map(stepItem));
  $("intake-current").replaceChildren(...(await current()));
  area();
  if (focus) $("intake-title").focus();
}

export function resetIntake() {
  state = null;
  $("intake-steps").replaceChildren();
  $("intake-current").replaceChildren();
  area();
}

// A new conversation about one patient (reached from their record, or from a saved draft):
// with the patient (they get a notice that a message waits, never its text) or among staff
// only; colleagues to include; a file; a draft kept for later. The patient id is in the
// address, never their name.

import { call } from "../../../../shared/api.js";
import { can } from "../../permissions.js";
import { guardLeave, navigate } from "../../router.js";
import { current } from "../../session.js";
import { announce, busy, clearErrors, el, field, heading, showError, showFormError } from "../../ui.js";
import { patientName } from "../patients/search.js";
import { FIELD_WORDS, KINDS, plainOr, readFile } from "./common.js";

function colleaguesField(people) {
  const me = current.me && current.me.id;
  const others = people.filter((c) => c.id !== me);
  if (!others.length) return null;
  return el(
    "div",
    { class: "field", "data-field": "recipient_ids" },
    el(
      "fieldset",
      { id: "compose-colleagues", "aria-describedby": "compose-colleagues-error" },
      el("legend", { text: "Colleagues to include" }),
      el("p", { id: "compose-colleagues-error", class: "field-error", hidden: true }),
      ...others.map((c) =>
        el(
          "div",
          { class: "check" },
          el("input", { type: "checkbox", id: `to-${c.id}`, name: "recipient_ids", value: c.id }),
          el("label", { for: `to-${c.id}`, text: c.credentials ? `${c.display_name}, ${c.credentials}` : c.display_name }),
        ),
      ),
    ),
  );
}

export async function render(view, { patientId }) {
  const query = new URLSearchParams(location.hash.split("?")[1] || "");
  const patient = await call("GET", `/v1/patients/${encodeURIComponent(patientId)}`);
  const people = can("scheduling.clinicians.read") ? (await call("GET", "/v1/clinicians")).items : [];
  let draft = null;
  const draftId = query.get("draft");
  if (draftId) {
    const mine = await call("GET", "/v1/me/message-drafts?limit=50");
    draft = mine.items.find((d) => d.id === draftId && d.patient_id === patientId && !d.thread_id) || null;
  }
  let dirty = false;
  const name = patientName(patient);
  const form = el("form", { id: "compose-form", novalidate: true, "aria-label": "New message" },
    el("div", { class: "field", "data-field": "kind" },
      el("fieldset", {},
        el("legend", { text: "Who sees it" }),
        el("div", { class: "check" },
          el("input", { type: "radio", id: "kind-patient", name: "kind", value: "patient", checked: !draft || draft.kind === "patient" }),
          el("label", { for: "kind-patient", text: `${name} and the people you include` })),
        el("div", { class: "check" },
          el("input", { type: "radio", id: "kind-staff", name: "kind", value: "staff", checked: Boolean(draft && draft.kind === "staff") }),
          el("label", { for: "kind-staff", text: "Colleagues only (about this patient; the patient does not see it)" })))),
    colleaguesField(people),
    field("Subject", { name: "subject", maxlength: "200", autocomplete: "off", value: draft ? draft.subject : "" }),
    field("Message", { name: "body", rows: "6", maxlength: "20000" }, { tag: "textarea" }),
    field("Attach a file (optional)", { name: "file", type: "file", accept: KINDS.join(",") }, { hint: "PDF, PNG, JPEG or plain text; at most 4 MB." }),
    el("div", { class: "actions" },
      el("button", { type: "submit", text: "Send message" }),
      el("button", { type: "button", class: "quiet", id: "compose-draft", text: "Save draft" })),
  );
  if (draft) form.elements.body.value = draft.body;
  form.addEventListener("input", () => (dirty = true));
  const chosen = () => [...form.querySelectorAll('input[name="recipient_ids"]:checked')].map((i) => i.value);
  const kind = () => form.querySelector('input[name="kind"]:checked').value;

  const saveButton = form.querySelector("#compose-draft");
  saveButton.addEventListener("click", () => busy(saveButton, async () => {
    const subject = form.elements.subject.value;
    const body = form.elements.body.value;
    try {
      draft = draft
        ? await call("PATCH", `/v1/message-drafts/${draft.id}`, { subject, body, version: draft.version })
        : await call("POST", "/v1/message-drafts", { patient_id: patientId, kind: kind(), subject, body });
    } catch (error) {
      showFormError(form, error, FIELD_WORDS);
      return;
    }
    dirty = false;
    announce("Draft saved. Only you can see it; it is listed under Messages.");
  }));

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form);
    busy(event.submitter, async () => {
      let attachments;
      try {
        attachments = await readFile(form.elements.file);
      } catch (error) {
        if (plainOr(error, showError)) return;
        throw error;
      }
      const payload = {
        patient_id: patientId,
        kind: kind(),
        subject: form.elements.subject.value,
        body: form.elements.body.value,
        recipient_ids: chosen(),
        attachments,
      };
      if (draft) payload.draft_id = draft.id;
      let sent;
      try {
        sent = await call("POST", "/v1/threads", payload);
      } catch (error) {
        showFormError(form, error, FIELD_WORDS);
        return;
      }
      dirty = false;
      navigate(`/messages/threads/${sent.thread_id}`);
      announce("Message sent.");
    });
  });
  guardLeave(() => !dirty || window.confirm("Your message is not sent or saved. Leave anyway?"));
  view.append(
    el("p", { class: "crumbs" }, el("a", { href: `#/patients/${patientId}`, text: name }), " / ", el("a", { href: "#/messages", text: "Messages" })),
    heading(`New message about ${name}`),
    el("p", { class: "hint", text: "You are always in the conversation. A patient message goes to the patient's portal; they get an email or text saying only that a message is waiting." }),
    form,
  );
  if (draft) announce("Your saved draft is back in the form.");
}

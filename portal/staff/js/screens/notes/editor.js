// One clinical note: the template's form (drafts and returned notes), autosave carrying the
// version (a 409 keeps what you typed and shows what changed), signing with attestation
// (fields required at signing marked; the API's field errors shown next to them), then
// read-only with addenda, co-signature or return for supervisors, the version history
// with its field-level diff, and the PDF.

import { call } from "../../../../shared/api.js";
import { can } from "../../permissions.js";
import { guardLeave } from "../../router.js";
import { current } from "../../session.js";
import { announce, busy, clearErrors, el, formatWhen, heading, showError, showFormError, table } from "../../ui.js";
import { templateForm } from "./form.js";

const SAVE_AFTER_MS = 1500;
const STATUS = {
  draft: "Draft",
  pending_cosign: "Signed, waiting for co-signature",
  returned: "Returned by the supervisor",
  signed: "Signed",
  cosigned: "Signed and co-signed",
};

function signatureLine(label, sig) {
  if (!sig) return null;
  const who = sig.credentials ? `${sig.display_name}, ${sig.credentials}` : sig.display_name;
  return el("p", { class: "signature", text: `${label}: ${who}, ${formatWhen(sig.signed_at, { dateStyle: "medium", timeStyle: "short" })}` });
}

function toBytes(b64) {
  const raw = atob(b64);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i += 1) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

function saveFile(name, type, bytes) {
  const url = URL.createObjectURL(new Blob([bytes], { type }));
  const link = el("a", { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export async function render(view, { noteId }) {
  const path = `/v1/notes/${encodeURIComponent(noteId)}`;
  let note = await call("GET", path);
  const template = (await call("GET", `/v1/templates/${encodeURIComponent(note.template_id)}/versions/${note.template_version}`)).definition;
  const mine = current.me && note.author_id === current.me.id;
  const editable = mine && ["draft", "returned"].includes(note.status) && can("note.update");
  const saved = el("p", { id: "autosave", class: "hint", role: "status", "aria-live": "polite" });
  const conflictBox = el("div", { id: "conflict" });

  const reload = async (message) => {
    view.replaceChildren();
    await render(view, { noteId });
    if (message) announce(message);
    view.querySelector("h1").focus();
  };

  view.append(
    el("p", { class: "crumbs" }, el("a", { href: `#/patients/${note.patient_id}`, text: "Back to the patient's chart" })),
    heading(template.title),
    el("p", {}, el("span", { class: `badge${note.status === "returned" ? " warn" : ""}`, text: STATUS[note.status] || note.status }),
      note.service_date ? ` Date of service ${note.service_date}.` : ""),
  );
  if (note.return_comments && ["returned", "draft"].includes(note.status)) {
    view.append(el("div", { class: "notice", role: "note" }, el("h2", { text: "Supervisor's comments" }), el("p", { text: note.return_comments })));
  }

  // ---- the form ---------------------------------------------------------------------------
  let timer = 0;
  let dirty = false;
  let saving = null;
  const form = templateForm(template, note.content, { readonly: !editable, onChange: () => schedule() });
  const formEl = el("form", { id: "note-form", novalidate: true, "aria-labelledby": "note-form-title" },
    el("h2", { id: "note-form-title", class: "visually-hidden", text: "Note" }),
    form.node);
  formEl.addEventListener("submit", (e) => e.preventDefault());

  async function save() {
    clearTimeout(timer);
    if (!dirty) return true;
    dirty = false;
    const content = form.read();
    saved.textContent = "Saving…";
    try {
      const result = await call("PATCH", path, { content, version: note.version });
      note = result;
      saved.textContent = `Draft saved at ${formatWhen(new Date().toISOString(), { timeStyle: "short" })} (version ${note.version}).`;
      conflictBox.replaceChildren();
      return true;
    } catch (error) {
      dirty = true;
      if (error.code === "version_conflict") {
        await showConflict(content);
        return false;
      }
      if (error.status === 422) {
        saved.textContent = "Not saved: some fields need attention.";
        showFormError(formEl, error);
        return false;
      }
      saved.textContent = "Not saved yet. We will try again when you next type.";
      if (!error.handled) showError("Your latest changes are not saved yet. Check your connection; they stay on this page.");
      return false;
    }
  }

  async function showConflict(mineNow) {
    const theirs = await call("GET", path);
    const changed = Object.keys({ ...theirs.content, ...mineNow }).filter(
      (k) => JSON.stringify(theirs.content[k]) !== JSON.stringify(mineNow[k]),
    );
    const titles = changed.map((k) => (template.schema.properties[k] && template.schema.properties[k].title) || k);
    const keep = el("button", { type: "button", text: "Keep my version (save over theirs)" });
    const take = el("button", { type: "button", class: "quiet", text: "Use the saved version (discard my changes)" });
    keep.addEventListener("click", () =>
      busy(keep, async () => {
        note = theirs;
        dirty = true;
        if (await save()) announce("Your version is saved.");
      }),
    );
    take.addEventListener("click", () => {
      dirty = false;
      guardLeave(null);
      reload("Loaded the saved version.");
    });
    conflictBox.replaceChildren(
      el("div", { class: "alert", role: "alert" },
        el("h2", { id: "conflict-title", tabindex: "-1", text: "This note was changed somewhere else" }),
        el("p", { text: `Version ${theirs.version} was saved after the one you opened. What you typed is still here and not lost. Parts that differ: ${titles.join(", ") || "none"}.` }),
        el("div", { class: "actions" }, keep, take),
      ),
    );
    conflictBox.querySelector("h2").focus();
    saved.textContent = "Not saved: the note changed meanwhile.";
  }

  function schedule() {
    dirty = true;
    saved.textContent = "Unsaved changes.";
    clearTimeout(timer);
    timer = setTimeout(() => {
      saving = save();
    }, SAVE_AFTER_MS);
  }

  if (editable) {
    guardLeave(() => !dirty || window.confirm("Your latest changes are not saved yet. Leave anyway?"));
    view.append(
      el("p", { class: "hint", text: "Changes save automatically. Fields marked “required to sign” must be complete before you sign." }),
      saved,
      conflictBox,
      formEl,
    );
    // ---- signing ---------------------------------------------------------------------------
    if (can("note.sign")) {
      const attest = el("input", { type: "checkbox", id: "attest", name: "attestation" });
      const sign = el("button", { type: "button", id: "sign-note", text: "Sign note" });
      const signBox = el("section", { class: "card", "aria-labelledby": "sign-title" },
        el("h2", { id: "sign-title", text: "Sign" }),
        el("div", { class: "field check", "data-field": "attestation" },
          attest,
          el("label", { for: "attest", text: "I attest that this note is accurate and complete, and that I provided the service it describes." }),
          el("p", { id: "attest-error", class: "field-error", hidden: true }),
        ),
        sign,
      );
      sign.addEventListener("click", () =>
        busy(sign, async () => {
          clearErrors(formEl);
          if (!attest.checked) {
            showFormError(signBox, { details: { fields: [{ path: "body.attestation", type: "attest" }] } }, { attest: "Tick the attestation to sign." });
            return;
          }
          if (saving) await saving;
          if (!(await save())) return;
          try {
            await call("POST", `${path}/sign`, { version: note.version, attestation: true });
          } catch (error) {
            if (error.status === 422) {
              showFormError(formEl, error, { required_at_signing: "Complete this before signing." });
              return;
            }
            throw error;
          }
          dirty = false;
          guardLeave(null);
          await reload("Note signed.");
        }),
      );
      view.append(signBox);
    }
  } else {
    view.append(formEl);
  }

  view.append(...[signatureLine("Signed by", note.signature), signatureLine("Co-signed by", note.cosignature)].filter(Boolean));

  // ---- supervisor: co-sign or return -------------------------------------------------------
  if (note.status === "pending_cosign" && !mine && (can("note.cosign") || can("note.return"))) {
    const comments = el("textarea", { id: "return-comments", name: "comments", rows: "3", maxlength: "4000" });
    const cosign = el("button", { type: "button", text: "Co-sign" });
    const ret = el("button", { type: "button", class: "quiet", text: "Return with comments" });
    const box = el("section", { class: "card", "aria-labelledby": "supervise-title" },
      el("h2", { id: "supervise-title", text: "Supervision" }),
      el("p", { class: "hint", text: "Co-signing makes the note final. Returning sends it back to the author to change, with your comments." }),
      el("div", { class: "field", "data-field": "comments" },
        el("label", { for: "return-comments", text: "Comments for the author (needed to return)" }),
        el("p", { id: "return-comments-error", class: "field-error", hidden: true }),
        comments),
      el("div", { class: "actions" }, can("note.cosign") ? cosign : null, can("note.return") ? ret : null),
    );
    cosign.addEventListener("click", () =>
      busy(cosign, async () => {
        await call("POST", `${path}/cosign`, { version: note.version });
        await reload("Note co-signed.");
      }),
    );
    ret.addEventListener("click", () =>
      busy(ret, async () => {
        clearErrors(box);
        const text = comments.value.trim();
        if (!text) {
          showFormError(box, { details: { fields: [{ path: "body.comments", type: "missing" }] } }, { missing: "Say what needs to change." });
          return;
        }
        await call("POST", `${path}/return`, { version: note.version, comments: text });
        await reload("Note returned to the author.");
      }),
    );
    view.append(box);
  }

  // ---- addenda -------------------------------------------------------------------------------
  if (["signed", "cosigned", "pending_cosign"].includes(note.status) || note.addenda.length) {
    const list = note.addenda.map((a) =>
      el("li", {}, el("p", { text: a.text }), signatureLine(`Addendum ${a.n} by`, a.signature)),
    );
    const box = el("section", { class: "card", "aria-labelledby": "addenda-title" },
      el("h2", { id: "addenda-title", text: "Addenda" }),
      list.length ? el("ol", { class: "addenda" }, ...list) : el("p", { class: "hint", text: "No addenda." }),
    );
    if (mine && can("note.addendum") && ["signed", "cosigned"].includes(note.status)) {
      const text = el("textarea", { id: "addendum-text", name: "text", rows: "3", maxlength: "20000" });
      const add = el("button", { type: "button", text: "Sign addendum" });
      const field = el("div", { class: "field", "data-field": "text" },
        el("label", { for: "addendum-text", text: "Add an addendum" }),
        el("p", { class: "hint", text: "The note itself cannot change once signed. An addendum is signed and dated separately." }),
        el("p", { id: "addendum-text-error", class: "field-error", hidden: true }),
        text);
      add.addEventListener("click", () =>
        busy(add, async () => {
          clearErrors(box);
          if (!text.value.trim()) {
            showFormError(box, { details: { fields: [{ path: "body.text", type: "missing" }] } }, { missing: "Write the addendum first." });
            return;
          }
          await call("POST", `${path}/addenda`, { text: text.value.trim() });
          await reload("Addendum signed.");
        }),
      );
      box.append(field, add);
    }
    view.append(box);
  }

  // ---- history, diff, PDF ---------------------------------------------------------------------
  const tools = el("div", { class: "actions" });
  if (can("note.pdf") && note.status !== "draft") {
    const pdf = el("button", { type: "button", class: "quiet", text: "Download PDF" });
    pdf.addEventListener("click", () =>
      busy(pdf, async () => {
        const out = await call("GET", `${path}/pdf`);
        saveFile(out.filename, out.content_type, toBytes(out.content_base64));
        announce("PDF downloaded.");
      }),
    );
    tools.append(pdf);
  }
  if (can("note.history.read")) {
    const show = el("button", { type: "button", class: "quiet", text: "Show history" });
    const history = el("section", { id: "history", "aria-labelledby": "history-title", hidden: true });
    show.addEventListener("click", () =>
      busy(show, async () => {
        const versions = await call("GET", `${path}/versions`);
        const rows = versions.map((v) => {
          let cell = "";
          if (v.n > 1) {
            const b = el("button", { type: "button", class: "quiet small", text: `Changes in version ${v.n}` });
            b.addEventListener("click", () =>
              busy(b, async () => {
                const diff = await call("GET", `${path}/diff?from=${v.n - 1}&to=${v.n}`);
                const out = history.querySelector("#diff") || el("div", { id: "diff" });
                out.replaceChildren(
                  el("h3", { id: "diff-title", tabindex: "-1", text: `Changes from version ${v.n - 1} to ${v.n}` }),
                  table(`Fields changed in version ${v.n}`, ["Field", "Change", "Before", "After"],
                    diff.changes.map((c) => [c.path, c.op, diff.values_included ? JSON.stringify(c.before ?? "") : "—", diff.values_included ? JSON.stringify(c.after ?? "") : "—"]),
                    "No field changed."),
                );
                history.append(out);
                out.querySelector("h3").focus();
              }),
            );
            cell = b;
          }
          return [String(v.n), v.event.replaceAll("_", " "), formatWhen(v.at, { dateStyle: "medium", timeStyle: "short" }), cell];
        });
        history.replaceChildren(
          el("h2", { id: "history-title", tabindex: "-1", text: "History" }),
          table("Versions of this note", ["Version", "What happened", "When", ""], rows),
        );
        history.hidden = false;
        history.querySelector("h2").focus();
      }),
    );
    tools.append(show);
    view.append(tools, history);
  } else {
    view.append(tools);
  }

  return () => clearTimeout(timer);
}

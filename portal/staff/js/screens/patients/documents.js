// A patient's documents in the chart: upload (PDF, PNG, JPEG or text, at most 4 MiB),
// share with the patient or stop sharing (each says what it changes), download. Files go
// as base64 in JSON (the API's format); nothing about a file ever goes in an address.

import { call } from "../../../../shared/api.js";
import { can } from "../../permissions.js";
import { announce, busy, clearErrors, el, field, formatWhen, showFormError, table } from "../../ui.js";

const TYPES = ["application/pdf", "image/png", "image/jpeg", "text/plain"];
const MAX = 4 * 1024 * 1024;

function toBase64(buffer) {
  const bytes = new Uint8Array(buffer);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

function fromBase64(text) {
  const raw = atob(text);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i += 1) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

function save(name, type, bytes) {
  const url = URL.createObjectURL(new Blob([bytes], { type }));
  const link = el("a", { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** The documents part of the chart (fills `box`; redraws itself after changes). */
export async function documentsPart(patientId, box) {
  const data = await call("GET", `/v1/patients/${encodeURIComponent(patientId)}/documents?limit=50`);
  const redraw = async (message) => {
    const parts = await documentsPart(patientId, box);
    box.replaceChildren(box.querySelector("h2"), ...parts);
    announce(message);
  };
  const rows = data.items.map((d) => {
    const actions = el("div", { class: "actions tight" });
    if (can("document.content.read")) {
      const get = el("button", { type: "button", class: "quiet small", text: "Download" }, el("span", { class: "visually-hidden", text: ` ${d.title}` }));
      get.addEventListener("click", () => busy(get, async () => {
        const file = await call("GET", `/v1/documents/${d.id}/content`);
        save(file.filename || d.filename, file.content_type || d.content_type, fromBase64(file.content_base64));
        announce(`Downloaded ${d.title}.`);
      }));
      actions.append(get);
    }
    if (can("document.share")) {
      const sharing = !d.shared_with_patient;
      const b = el("button", { type: "button", class: "quiet small", text: sharing ? "Share with the patient" : "Stop sharing" },
        el("span", { class: "visually-hidden", text: ` ${d.title}` }));
      b.setAttribute("aria-describedby", `doc-note-${d.id}`);
      b.addEventListener("click", () => busy(b, async () => {
        await call("POST", `/v1/documents/${d.id}/${sharing ? "share" : "unshare"}`, { version: d.version });
        await redraw(sharing ? `Shared ${d.title}: the patient can download it in the portal.` : `Stopped sharing ${d.title}: the patient no longer sees it.`);
      }));
      actions.append(b, el("span", {
        id: `doc-note-${d.id}`, class: "visually-hidden",
        text: sharing ? "The patient will see and download it in the portal." : "The patient will no longer see it; a copy they downloaded stays with them.",
      }));
    }
    return [d.title, d.filename, formatWhen(d.created_at, { dateStyle: "medium" }), d.shared_with_patient ? "Shared" : "Not shared", actions];
  });
  const parts = [table("Documents, newest first", ["Title", "File", "Added", "Shared with the patient", "Actions"], rows, "No documents.")];
  if (can("document.upload")) {
    const form = el("form", { id: "upload-form", novalidate: true, "aria-labelledby": "upload-title" },
      el("h3", { id: "upload-title", text: "Upload a document" }),
      field("Title", { name: "title", maxlength: "200", required: true, autocomplete: "off" }),
      field("File", { name: "file", type: "file", accept: TYPES.join(","), required: true }, { hint: "PDF, PNG, JPEG or plain text; at most 4 MB." }),
      can("document.share")
        ? el("div", { class: "check" }, el("input", { type: "checkbox", id: "upload-share", name: "shared_with_patient" }), el("label", { for: "upload-share", text: "Share it with the patient now (they can download it in the portal)" }))
        : null,
      el("button", { type: "submit", text: "Upload" }));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      clearErrors(form);
      const file = form.elements.file.files[0];
      const title = form.elements.title.value.trim();
      const problems = [];
      if (!title) problems.push({ path: "body.title", type: "missing" });
      if (!file) problems.push({ path: "body.file", type: "missing" });
      else if (!TYPES.includes(file.type)) problems.push({ path: "body.file", type: "file_type" });
      else if (file.size > MAX) problems.push({ path: "body.file", type: "file_size" });
      if (problems.length) {
        showFormError(form, { details: { fields: problems } }, { file_type: "Choose a PDF, PNG, JPEG or text file.", file_size: "The file is larger than 4 MB." });
        return;
      }
      busy(event.submitter, async () => {
        const content = toBase64(await file.arrayBuffer());
        const share = form.elements.shared_with_patient ? form.elements.shared_with_patient.checked : false;
        try {
          await call("POST", `/v1/patients/${encodeURIComponent(patientId)}/documents`, {
            title, filename: file.name.replace(/[^A-Za-z0-9._ -]/g, "_").slice(0, 200), content_type: file.type, content_base64: content, shared_with_patient: share,
          });
        } catch (error) {
          showFormError(form, error);
          return;
        }
        await redraw(`Uploaded ${title}${share ? " and shared it with the patient" : ""}.`);
      });
    });
    parts.push(form);
  }
  return parts;
}

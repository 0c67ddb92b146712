// What the messaging screens share: wording for messaging's errors and rules, reading a
// chosen file into the API's attachment shape (type and size checked before sending),
// downloading an attachment, and times. Nothing about a message ever goes in an address.

import { call } from "../../../../shared/api.js";
import { addMessages, announce, el, formatWhen } from "../../ui.js";

export const KINDS = ["application/pdf", "image/png", "image/jpeg", "text/plain"];
export const MAX_FILE = 4 * 1024 * 1024;

export const REASONS = [
  ["wrong_recipient", "Sent to the wrong person"],
  ["third_party_phi", "Holds another person's health information"],
  ["other", "Other inappropriate disclosure"],
];

addMessages({
  message_restricted: "This message is withheld while the privacy officer reviews it.",
  already_restricted: "That message is already flagged and withheld.",
  payload_too_large: "The files are too large to send (4 MB together at most).",
  draft_mismatch: "That draft belongs to another conversation.",
});

/** Wording for messaging's field-level rules (showFormError's `words`). */
export const FIELD_WORDS = {
  no_portal_account: "This patient has no portal account yet: invite them from their record, or write to colleagues only.",
  no_care_team: "This patient has no care team yet.",
  not_allowed_recipient: "Choose colleagues whose role takes part in messaging.",
  not_allowed_delegate: "Choose an active colleague (not yourself) who takes part in messaging.",
  too_many: "That is too many.",
  too_large: "The files are too large (4 MB together at most).",
  base64: "That file could not be read.",
};

export function when(iso) {
  return formatWhen(iso, { dateStyle: "medium", timeStyle: "short" });
}

/** The chosen file as the API's attachment list ([] when none). Throws a plain Error (shown
 * as is) for a kind or size the API would refuse. */
export function readFile(input) {
  const file = input.files && input.files[0];
  if (!file) return Promise.resolve([]);
  if (!KINDS.includes(file.type)) {
    return Promise.reject(new Error("That kind of file cannot be sent. Use PDF, PNG, JPEG or plain text."));
  }
  if (file.size > MAX_FILE) return Promise.reject(new Error("That file is over 4 MB."));
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => {
      const text = String(reader.result);
      resolve([{ filename: file.name.slice(0, 200), content_type: file.type, content_base64: text.slice(text.indexOf(",") + 1) }]);
    };
    reader.onerror = () => reject(new Error("The file could not be read."));
    reader.readAsDataURL(file);
  });
}

function toBytes(base64) {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Downloads an attachment (each read is authorised and audited by the API). */
export async function download(file) {
  const data = await call("GET", `/v1/message-attachments/${encodeURIComponent(file.id)}/content`);
  const url = URL.createObjectURL(new Blob([toBytes(data.content_base64)], { type: data.content_type }));
  const link = el("a", { href: url, download: data.filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  announce(`Downloaded ${data.filename}.`);
}

/** Plain errors (a file we refused before sending) show as they are; API errors by code. */
export function plainOr(error, show) {
  if (error instanceof Error && !("status" in error)) {
    show(error.message);
    return true;
  }
  return false;
}

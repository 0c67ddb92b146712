// "Documents shared with me": the documents the practice chose to share, each downloaded
// on demand. The bytes come from the API as base64 JSON (the same authenticated, audited
// call as everything else) and are saved through a Blob and a short-lived object URL, so
// no document ever has a URL of its own that could be shared, cached or logged.

import { call } from "../shared/api.js";
import { $, announce, busy, el, formatWhen } from "./ui.js";

let cursor = null;
const KEEP_URL_MS = 60_000; // long enough for the browser to start saving the file

function sizeText(bytes) {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

const KINDS = {
  "application/pdf": "PDF",
  "image/png": "PNG image",
  "image/jpeg": "JPEG image",
  "text/plain": "Text",
};

function toBytes(base64) {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

async function download(doc) {
  const data = await call("GET", `/v1/documents/${encodeURIComponent(doc.id)}/content`);
  const blob = new Blob([toBytes(data.content_base64)], { type: data.content_type });
  const url = URL.createObjectURL(blob);
  const link = el("a", { href: url, download: data.filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), KEEP_URL_MS);
  announce(`Downloading ${data.filename}.`);
}

function item(doc) {
  const kind = KINDS[doc.content_type] || "File";
  return el(
    "li",
    { class: "appt" },
    el("p", { class: "when", text: doc.title }),
    el("p", {
      text: `${kind}, ${sizeText(doc.size_bytes)}. Shared ${formatWhen(doc.shared_at || doc.created_at, { dateStyle: "medium" })}.`,
    }),
    el(
      "button",
      { type: "button", class: "quiet", onclick: (e) => busy(e.currentTarget, () => download(doc)) },
      "Download",
      el("span", { class: "visually-hidden", text: ` ${doc.title}` }),
    ),
  );
}

async function page(first) {
  const q = new URLSearchParams({ limit: "25" });
  if (!first && cursor) q.set("cursor", cursor);
  const data = await call("GET", `/v1/me/documents?${q}`);
  const list = $("documents-list");
  const items = data.items.map(item);
  if (first) list.replaceChildren(...items);
  else list.append(...items);
  cursor = data.next_cursor;
  $("documents-more").hidden = !cursor;
  $("documents-empty").hidden = list.children.length > 0;
}

export function loadDocuments() {
  cursor = null;
  return page(true);
}

export function setUpDocuments() {
  $("documents-more").addEventListener("click", (event) =>
    busy(event.currentTarget, () => page(false)),
  );
}

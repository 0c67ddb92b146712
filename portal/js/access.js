// "Who looked at my record": the practice's access log for the signed-in patient.

import { call } from "../shared/api.js";
import { $, busy, el, formatWhen } from "./ui.js";

let cursor = null;

const VERBS = { read: "viewed", list: "listed", update: "changed", create: "created" };

// "patient.read" -> "Patient record viewed"; "appointment.self_cancel" -> "Appointment: self cancel".
function describeAccess(action) {
  const [subject, ...rest] = action.split(".");
  const verb = rest.join(" ").replaceAll("_", " ");
  const noun = subject === "patient" ? "Patient record" : subject.replaceAll("_", " ");
  const text = VERBS[verb] ? `${noun} ${VERBS[verb]}` : `${noun}: ${verb}`;
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function row(entry) {
  const what = describeAccess(entry.access);
  return el(
    "tr",
    {},
    el("td", { text: formatWhen(entry.time, { dateStyle: "medium", timeStyle: "short" }) }),
    el("td", { text: entry.staff_name }),
    el("td", { text: entry.staff_roles.map((r) => r.replaceAll("_", " ")).join(", ") }),
    el("td", { text: entry.emergency ? `${what} (emergency access)` : what }),
  );
}

async function page(first) {
  const q = new URLSearchParams({ limit: "25" });
  if (!first && cursor) q.set("cursor", cursor);
  const data = await call("GET", `/v1/me/access-log?${q}`);
  const body = $("access-rows");
  const rows = data.items.map(row);
  if (first) body.replaceChildren(...rows);
  else body.append(...rows);
  cursor = data.next_cursor;
  $("access-more").hidden = !cursor;
  $("access-empty").hidden = body.children.length > 0;
  $("access-table").hidden = body.children.length === 0;
}

export function loadAccessLog() {
  cursor = null;
  return page(true);
}

export function setUpAccessLog() {
  $("access-more").addEventListener("click", (event) => busy(event.currentTarget, () => page(false)));
}

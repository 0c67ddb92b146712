// One video visit, the clinician's side. Before the start: who already waits, and "Start
// the visit". Once open: the clinician's own media session (the portal's VisitSession:
// local WebRTC on tpm dev, Chime in AWS — the visit says which), the waiting room (admit
// with the identity check against the chart, deny; remove someone admitted), guest
// invitations, audio-only fallback, chat, and ending. After the end: the facts charge
// capture takes from the visit (mode, patient location, place of service, modifiers) and
// the attended minutes offered to the note. Each status read is audited by the API.

import { call } from "../../../../shared/api.js";
import { localStream, VisitSession } from "../../../../js/visit-session.js";
import { can } from "../../permissions.js";
import { announce, busy, el, field, formatTime, formatWhen, heading, showError, showFormError, table } from "../../ui.js";
import { patientName } from "../patients/search.js";
import { startVisit } from "./today.js";

const POLL_MS = 3000;
const IDENTITY = [
  ["", "How did you confirm who this is?"],
  ["photo_id", "Photo ID shown on camera"],
  ["known_to_clinician", "I know this patient"],
  ["verbal_details", "Confirmed details (e.g. date of birth)"],
];
const KIND = { patient: "Patient", guest: "Guest", host: "Clinician" };
const MODE = { video: "Video", audio_only: "Audio only", in_person: "In person" };
const PLACE = { "02": "02 — telehealth, not at home", 10: "10 — telehealth in the patient's home", 11: "11 — office" };


/** The host view as a participant's view, for VisitSession (aliases of who is in). */
function sessionView(host) {
  const me = host.me ? host.me.participant_id : "";
  return {
    ...host,
    peers: host.participants
      .filter((p) => p.status === "admitted" && p.id !== me)
      .map((p) => ({ participant_id: p.id, alias: p.alias, host: p.kind === "host", attendee_id: p.attendee_id })),
  };
}

function place(location) {
  if (!location) return "Not given";
  const where = location.at_home ? "at home" : "not at home";
  return `${location.state}, ${where}`;
}

function deviceText(check) {
  if (!check) return "No check";
  const bad = ["camera", "microphone", "connection"].filter((k) => !check[k]);
  return bad.length ? `Problem: ${bad.join(", ")}` : "Camera, microphone and connection work";
}

export async function render(view, { visitId }) {
  const base = `/v1/visits/${encodeURIComponent(visitId)}`;
  let visit = await call("GET", base);
  const names = new Map();
  async function patientLabel(pid) {
    if (!pid || !can("patient.read")) return null;
    if (!names.has(pid)) {
      try {
        names.set(pid, patientName(await call("GET", `/v1/patients/${encodeURIComponent(pid)}`)));
      } catch {
        names.set(pid, null);
      }
    }
    return names.get(pid);
  }

  const status = el("p", { id: "visit-status", class: "notice" });
  const tiles = el("div", { id: "host-tiles", class: "tiles", role: "group", "aria-label": "People in the visit" });
  const chatLog = el("ul", { id: "host-chat-log", class: "chat-log", "aria-label": "Messages in this visit" });
  const room = el("section", { id: "waiting-room", "aria-labelledby": "waiting-room-title" });
  const controls = el("div", { id: "visit-controls", class: "actions" });
  const invite = el("section", { id: "visit-invite", "aria-labelledby": "visit-invite-title" });
  const chat = el("section", { id: "host-chat", "aria-labelledby": "host-chat-title" });
  const summary = el("section", { id: "visit-summary", "aria-labelledby": "visit-summary-title", hidden: true });
  const identity = new Map(); // participant id -> chosen identity method (kept across redraws)
  let session = null;
  let timer = null;
  let drawn = "";
  let gone = false;

  function api() {
    return {
      visit: async () => {
        visit = await call("GET", base);
        await drawRoom();
        return sessionView(visit);
      },
      send: (to, type, payload) => call("POST", `${base}/messages`, { to, type, payload }),
      receive: async (after) => {
        const q = after ? `?after=${encodeURIComponent(after)}` : "";
        return (await call("GET", `${base}/messages${q}`)).items;
      },
      leave: () => call("POST", `${base}/leave`),
      mode: (mode, reason) => call("POST", `${base}/mode`, { mode, reason }),
    };
  }

  /** A 409 means the visit or the person changed meanwhile: show what is true now. */
  async function fresh(action) {
    try {
      return await action();
    } catch (error) {
      if (error && error.status === 409) await refresh().catch(() => {});
      throw error;
    }
  }

  // ---- waiting room -------------------------------------------------------------------

  async function personCell(p) {
    const name = p.kind === "patient" ? await patientLabel(p.patient_id) : null;
    const who = el("div", {});
    if (name) who.append(el("a", { href: `#/patients/${p.patient_id}`, target: "_blank", rel: "noopener", text: name }));
    else who.append(el("span", { text: p.alias }));
    who.append(el("p", { class: "hint", text: `${KIND[p.kind] || p.kind}; shown to others as "${p.alias}"` }));
    return who;
  }

  function whereCell(p) {
    if (p.kind !== "patient") return "—";
    const box = el("div", {}, el("span", { text: place(p.location) }));
    if (p.location) box.append(el("p", { class: "hint", text: `Place of service ${p.location.place_of_service}` }));
    if (p.licence_warning) {
      box.append(el("p", { class: "badge danger", text: `You are not licensed in ${p.location.state}` }));
    }
    return box;
  }

  function admitCell(p) {
    const box = el("div", { class: "actions tight" });
    if (p.status === "waiting" && visit.status === "open" && can("visit.admit")) {
      let select = null;
      if (p.kind === "patient") {
        const id = `identity-${p.id}`;
        select = el("select", { id, "data-key": id, "aria-label": `Identity check for ${p.alias}` });
        for (const [value, text] of IDENTITY) select.append(el("option", { value, text, selected: identity.get(p.id) === value }));
        select.addEventListener("change", () => identity.set(p.id, select.value));
        box.append(select);
      }
      const admit = el("button", { type: "button", class: "small", "data-key": `admit-${p.id}`, text: `Admit ${p.alias}` });
      admit.addEventListener("click", () => {
        if (select && !select.value) {
          showError(`Choose how you confirmed ${p.alias}'s identity against the chart before admitting them.`);
          select.focus();
          return;
        }
        busy(admit, async () => {
          const body = select ? { identity_method: select.value } : {};
          await fresh(() => call("POST", `${base}/participants/${encodeURIComponent(p.id)}/admit`, body));
          identity.delete(p.id);
          announce(`${p.alias} is admitted.`);
          await refresh();
        });
      });
      box.append(admit);
    }
    if ((p.status === "waiting" || (p.status === "admitted" && p.kind !== "host")) && can("visit.deny")) {
      const word = p.status === "waiting" ? "Deny" : "Remove";
      const deny = el("button", { type: "button", class: "small quiet", "data-key": `deny-${p.id}`, text: `${word} ${p.alias}` });
      deny.addEventListener("click", () =>
        busy(deny, async () => {
          await fresh(() => call("POST", `${base}/participants/${encodeURIComponent(p.id)}/deny`));
          announce(p.status === "waiting" ? `${p.alias} was not let in.` : `${p.alias} was removed from the visit.`);
          await refresh();
        }),
      );
      box.append(deny);
    }
    if (p.identity_check) {
      box.append(el("p", { class: "hint", text: `Identity: ${IDENTITY.find(([v]) => v === p.identity_check.method)?.[1] || p.identity_check.method}, ${formatTime(p.identity_check.verified_at)}` }));
    }
    return box;
  }

  async function drawRoom() {
    const shape = JSON.stringify([visit.status, visit.mode, visit.participants.map((p) => [p.id, p.status, p.location, p.licence_warning])]);
    if (shape === drawn) return;
    drawn = shape;
    const focused = document.activeElement && room.contains(document.activeElement) ? document.activeElement.dataset.key : null;
    const others = visit.participants.filter((p) => p.kind !== "host");
    const waiting = others.filter((p) => p.status === "waiting");
    const admitted = others.filter((p) => p.status === "admitted");
    const earlier = others.filter((p) => !["waiting", "admitted"].includes(p.status));
    const rows = async (list, withWait) =>
      Promise.all(
        list.map(async (p) => [
          await personCell(p),
          whereCell(p),
          withWait ? `Since ${formatTime(p.joined_at)}; ${deviceText(p.device_check)}` : `${p.attended_minutes} min`,
          admitCell(p),
        ]),
      );
    room.replaceChildren(
      el("h2", { id: "waiting-room-title", text: waiting.length ? `Waiting room: ${waiting.length} waiting` : "Waiting room: nobody waiting" }),
      table("Waiting to be let in", ["Person", "Location", "Waiting", "Admit or deny"], await rows(waiting, true), "Nobody is waiting."),
      el("h3", { text: "In the visit" }),
      table("In the visit", ["Person", "Location", "Attended", "Actions"], await rows(admitted, false), "Nobody else is in the visit yet."),
      earlier.length
        ? el("details", {}, el("summary", { text: `Left, denied or removed (${earlier.length})` }),
            el("ul", {}, ...earlier.map((p) => el("li", { text: `${p.alias}: ${p.status}${p.left_at ? `, ${formatTime(p.left_at)}` : ""}` }))))
        : null,
    );
    if (focused) {
      const again = room.querySelector(`[data-key="${CSS.escape(focused)}"]`);
      if (again) again.focus();
    }
    drawControls();
    drawChatTargets();
  }

  // ---- controls -----------------------------------------------------------------------

  function drawControls() {
    controls.replaceChildren();
    if (visit.status === "ended") return;
    if (visit.status !== "open") {
      if (can("visit.start")) {
        const start = el("button", { type: "button", id: "visit-start", text: "Start the visit" });
        start.addEventListener("click", () => busy(start, () => startVisit(visit.appointment_id)));
        controls.append(start);
      }
      return;
    }
    if (can("visit.mode")) {
      const audio = visit.mode === "audio_only";
      const toggle = el("button", { type: "button", class: "quiet", id: "visit-mode", "aria-pressed": String(audio), text: audio ? "Turn video back on" : "Switch to audio only" });
      toggle.addEventListener("click", () =>
        busy(toggle, async () => {
          const on = visit.mode !== "audio_only";
          if (session) await session.audioOnly(on);
          else await call("POST", `${base}/mode`, { mode: on ? "audio_only" : "video", reason: on ? "video_failed" : "video_restored" });
          announce(on ? "The visit continues with audio only. This is recorded for billing." : "Video is back on.");
          await refresh();
          controls.querySelector("#visit-mode")?.focus();
        }),
      );
      controls.append(toggle);
    }
    if (can("visit.end")) {
      const end = el("button", { type: "button", class: "danger", id: "visit-end", text: "End visit" });
      const sure = el("div", { class: "confirm", hidden: true, role: "group", "aria-label": "Confirm ending the visit" },
        el("p", { text: "End the visit for everyone? Nobody can join it again." }));
      const yes = el("button", { type: "button", class: "danger", text: "Yes, end the visit" });
      const no = el("button", { type: "button", class: "quiet", text: "Keep it going" });
      sure.append(el("div", { class: "actions" }, yes, no));
      end.addEventListener("click", () => {
        sure.hidden = false;
        end.hidden = true;
        yes.focus();
      });
      no.addEventListener("click", () => {
        sure.hidden = true;
        end.hidden = false;
        end.focus();
      });
      yes.addEventListener("click", () =>
        busy(yes, async () => {
          visit = await call("POST", `${base}/end`);
          if (session) session.finish("The visit has ended.");
          else ended();
        }),
      );
      controls.append(end, sure);
    }
  }

  // ---- guests -------------------------------------------------------------------------

  function drawInvite() {
    if (!can("visit.invite")) return;
    const alias = field("Name others will see", { name: "alias", required: true, maxlength: "60", value: "Interpreter" }, { hint: "Not a full name: e.g. Interpreter, or a first name." });
    const minutes = field("Link works for", { name: "expires_minutes" }, { tag: "select", options: [["30", "30 minutes"], ["60", "1 hour"], ["120", "2 hours"]] });
    minutes.querySelector("select").value = "60";
    const out = el("div", { id: "invite-link", hidden: true });
    const form = el("form", { id: "invite-form", novalidate: true }, alias, minutes, el("button", { type: "submit", text: "Create invitation link" }));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const button = event.submitter;
      button.disabled = true;
      const body = { alias: form.elements.alias.value.trim(), expires_minutes: Number(form.elements.expires_minutes.value) };
      call("POST", `${base}/invitations`, body)
        .then((inv) => {
          const link = `${location.origin}/#visit-invitation=${inv.token}`;
          const input = el("input", { id: "invite-url", readonly: true, value: link, "aria-describedby": "invite-url-hint" });
          out.replaceChildren(
            el("label", { for: "invite-url", text: `Invitation link for ${body.alias}` }),
            el("p", { id: "invite-url-hint", class: "hint", text: `Works once, until ${formatWhen(inv.expires_at, { timeStyle: "short" })}. Send it to the guest directly; it is not shown again. The guest waits in the waiting room like everyone else.` }),
            input,
          );
          out.hidden = false;
          input.focus();
          input.select();
          announce("Invitation link created.");
        })
        .catch((error) => showFormError(form, error))
        .finally(() => (button.disabled = false));
    });
    invite.replaceChildren(el("h2", { id: "visit-invite-title", text: "Invite a guest" }),
      el("p", { class: "hint", text: "An interpreter or a family member joins with a single-use link." }), form, out);
  }

  // ---- chat ---------------------------------------------------------------------------

  const chatTo = el("select", { id: "host-chat-to" });
  const chatText = el("input", { id: "host-chat-text", maxlength: "2000", autocomplete: "off" });
  function drawChatTargets() {
    const keep = chatTo.value;
    const people = visit.participants.filter((p) => p.status === "admitted" && p.kind !== "host");
    chatTo.replaceChildren(el("option", { value: "everyone", text: "Everyone" }), ...people.map((p) => el("option", { value: p.id, text: p.alias })));
    if ([...chatTo.options].some((o) => o.value === keep)) chatTo.value = keep;
    chat.hidden = visit.status !== "open";
  }
  function drawChat() {
    const form = el("form", { id: "host-chat-form", class: "row" },
      el("div", {}, el("label", { for: "host-chat-to", text: "To" }), chatTo),
      el("div", {}, el("label", { for: "host-chat-text", text: "Message" }), chatText),
      el("div", { class: "actions" }, el("button", { type: "submit", class: "small", text: "Send" })));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = chatText.value.trim();
      if (!text || !session) return;
      busy(event.submitter, async () => {
        await session.send(text, chatTo.value);
        const to = chatTo.options[chatTo.selectedIndex].text;
        chatLog.append(el("li", { text: `You to ${to}: ${text}` }));
        chatText.value = "";
        announce("Message sent.");
      });
    });
    chat.replaceChildren(el("h2", { id: "host-chat-title", text: "Messages" }),
      el("p", { class: "hint", text: "Patients' messages reach only you; patients cannot message each other." }), chatLog, form);
  }

  // ---- the end ------------------------------------------------------------------------

  async function ended() {
    clearTimeout(timer);
    gone = true;
    controls.replaceChildren();
    invite.hidden = true;
    chat.hidden = true;
    tiles.replaceChildren();
    status.textContent = `The visit has ended${visit.ended_at ? ` at ${formatTime(visit.ended_at)}` : ""}. It lasted ${visit.duration_minutes} ${visit.duration_minutes === 1 ? "minute" : "minutes"}.`;
    const rows = [];
    for (const b of visit.billing) {
      const name = (await patientLabel(b.patient_id)) || "Patient";
      const write = can("note.create")
        ? el("a", { href: `#/patients/${b.patient_id}/notes/new`, text: "Write the note" })
        : "";
      rows.push([
        name,
        MODE[b.mode] || b.mode,
        b.patient_location ? `${b.patient_state || ""} ${b.patient_location === "home" ? "home" : "not at home"}`.trim() : "Not given",
        PLACE[b.place_of_service] || b.place_of_service || "—",
        b.modifiers.length ? b.modifiers.join(", ") : "None",
        `${b.documented_minutes_offer} min`,
        write,
      ]);
    }
    const changes = visit.mode_changes.map((c) => el("li", { text: `${formatTime(c.at)}: ${MODE[c.mode] || c.mode} (${c.reason.replaceAll("_", " ")})` }));
    summary.replaceChildren(
      el("h2", { id: "visit-summary-title", tabindex: "-1", text: "For the note and the charge" }),
      el("p", { class: "hint", text: "These facts reach charge capture when the note is signed. The minutes each patient attended are offered to the note; the minutes you document are what bills." }),
      table("Charge capture facts per patient", ["Patient", "Mode", "Patient location", "Place of service", "Modifiers", "Attended (offered to the note)", ""], rows, "No patients."),
      changes.length ? el("div", {}, el("h3", { text: "Changes of mode" }), el("ul", {}, ...changes)) : null,
    );
    summary.hidden = false;
    room.hidden = true; // nobody waits for an ended visit; attendance is in the facts above
    summary.querySelector("h2").focus();
  }

  // ---- the session --------------------------------------------------------------------

  async function refresh() {
    visit = await call("GET", base);
    await drawRoom();
    // an admission or removal reaches the media session now, not at its next status poll
    if (session && visit.status === "open") session.apply(sessionView(visit));
    if (visit.status === "ended" && !gone) {
      if (session) session.finish("The visit has ended.");
      else await ended();
    } else if (visit.status === "open" && !session) {
      await joinMedia();
    }
  }

  async function poll() {
    if (gone || session) return; // once in session, VisitSession's own status poll refreshes
    try {
      await refresh();
    } catch {
      /* tried again next time */
    }
    if (!gone && !session) timer = setTimeout(poll, POLL_MS);
  }

  async function joinMedia() {
    if (!visit.me || !visit.me.credentials) return;
    let stream;
    try {
      stream = (await localStream()).stream;
    } catch {
      status.textContent = "Your camera and microphone could not be used. Check the browser's permission, then reload.";
      return;
    }
    clearTimeout(timer);
    session = new VisitSession(api(), {
      tiles,
      chatLog,
      say: announce,
      ended: (message) => {
        session = null;
        status.textContent = message;
        ended();
      },
    }, stream);
    await session.start(sessionView(visit));
    status.textContent = visit.media === "chime" ? "You are in the visit (Amazon Chime)." : "You are in the visit.";
  }

  const title = visit.group ? "Group video visit" : "Video visit";
  view.append(
    el("p", { class: "crumbs" }, el("a", { href: "#/visits", text: "Video visits" })),
    heading(title),
    status,
    tiles,
    controls,
    summary,
    room,
    chat,
    invite,
  );
  drawInvite();
  drawChat();
  await drawRoom();
  if (visit.status === "ended") {
    gone = true;
    await ended();
  } else if (visit.status === "open") {
    status.textContent = "Joining…";
    await joinMedia();
  } else {
    status.textContent = "The visit has not started. People who arrive wait here until you start it and let them in.";
    invite.hidden = true;
    timer = setTimeout(poll, POLL_MS);
  }
  return () => {
    gone = true;
    clearTimeout(timer);
    if (session) {
      const s = session;
      session = null;
      s.done = true; // leaving the screen stops the media; the visit stays open
      clearTimeout(s.timer);
      if (s.media) s.media.close();
    }
  };
}

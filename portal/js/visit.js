// The visit page (patients signed in; guests with an invitation): camera, microphone and
// connection check, the patient's location, the waiting room, then the session. Loaded
// with import() when someone opens a visit, never with the portal itself.

import { ApiError, call, guestCall } from "../shared/api.js";
import { $, announce, describe, el, showError } from "./ui.js";
import { VisitSession, localStream } from "./visit-session.js";

const WAIT_MS = 1500;
const STATES =
  "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR VI GU AS MP".split(
    " ",
  );

let current = null; // {session, timer, stream}

function patientApi(visitId) {
  const base = `/v1/visits/${encodeURIComponent(visitId)}`;
  return {
    visit: () => call("GET", base),
    send: (to, type, payload) => call("POST", `${base}/messages`, { to, type, payload }),
    receive: async (after) => {
      const q = after ? `?after=${encodeURIComponent(after)}` : "";
      return (await call("GET", `${base}/messages${q}`)).items;
    },
    leave: () => call("POST", `${base}/leave`),
    mode: (mode, reason) => call("POST", `${base}/mode`, { mode, reason }),
    consent: (recording, screenShare) =>
      call("POST", `${base}/consent`, { recording, screen_share: screenShare }),
  };
}

function guestApi(token) {
  const send = (method, path, body) => guestCall(method, path, body, token);
  return {
    visit: () => send("GET", "/v1/visit-guests/me"),
    send: (to, type, payload) => send("POST", "/v1/visit-guests/me/messages", { to, type, payload }),
    receive: async (after) => {
      const q = after ? `?after=${encodeURIComponent(after)}` : "";
      return (await send("GET", `/v1/visit-guests/me/messages${q}`)).items;
    },
    leave: () => send("POST", "/v1/visit-guests/me/leave"),
    mode: () => Promise.resolve(null),
    consent: null,
  };
}

function setStep(step) {
  for (const id of ["visit-check", "visit-waiting", "visit-room", "visit-done"]) {
    $(id).hidden = id !== step;
  }
}

function fillStates() {
  const select = $("visit-state");
  if (select.options.length) return;
  select.append(el("option", { value: "", text: "Choose your state" }));
  for (const code of STATES) select.append(el("option", { value: code, text: code }));
}

/** Camera and microphone preview, and whether the practice answers (connection). */
async function deviceCheck() {
  const results = { camera: false, microphone: false, connection: false };
  let stream = null;
  try {
    const got = await localStream();
    stream = got.stream;
    results.camera = got.video;
    results.microphone = stream.getAudioTracks().length > 0;
    $("visit-preview").srcObject = stream;
  } catch {
    /* no device or permission: said below */
  }
  try {
    const started = performance.now();
    await fetch("/v1/health", { cache: "no-store", credentials: "omit" });
    results.connection = performance.now() - started < 3000;
  } catch {
    results.connection = false;
  }
  const lines = [
    ["camera", results.camera ? "Camera works." : "We cannot use your camera; you can still join by audio."],
    ["microphone", results.microphone ? "Microphone works." : "We cannot use your microphone. Check your browser's permission."],
    ["connection", results.connection ? "Your connection to the practice is good." : "Your connection looks slow or offline."],
  ];
  $("visit-checks").replaceChildren(
    ...lines.map(([name, text]) => el("li", { "data-check": name, class: results[name] ? "ok" : "bad", text })),
  );
  return { stream, results };
}

function ui() {
  return {
    tiles: $("visit-tiles"),
    chatLog: $("visit-chat-log"),
    say: announce,
    ended: (message) => {
      setStep("visit-done");
      $("visit-done-message").textContent = message;
      announce(message);
      $("visit-title").focus();
    },
  };
}

async function waitForAdmission(api, stream) {
  setStep("visit-waiting");
  $("visit-waiting-message").textContent = "You are in the waiting room. Your clinician will let you in shortly.";
  announce("You are in the waiting room.");
  const tick = async () => {
    let view;
    try {
      view = await api.visit();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return ui().ended("Your session has ended.");
      current.timer = setTimeout(tick, WAIT_MS);
      return;
    }
    if (view.status === "ended") return ui().ended("The visit has ended.");
    if (view.me.status === "denied") return ui().ended("The clinician could not let you in. Please call the practice.");
    if (view.me.status === "admitted" && view.me.credentials) return enterRoom(api, view, stream);
    $("visit-waiting-message").textContent =
      view.status === "open"
        ? "Your clinician has started the visit and will let you in shortly."
        : "You are in the waiting room. Your clinician will let you in shortly.";
    current.timer = setTimeout(tick, WAIT_MS);
  };
  await tick();
}

async function enterRoom(api, view, stream) {
  setStep("visit-room");
  $("visit-consent").hidden = !api.consent;
  const session = new VisitSession(api, ui(), stream);
  current.session = session;
  await session.start(view);
  announce("You are in the visit.");
  const host = view.peers.find((p) => p.host);
  $("visit-chat").dataset.to = host ? host.participant_id : "";
}

function reset() {
  if (current) {
    clearTimeout(current.timer);
    if (current.session) current.session.finish("");
    else if (current.stream) for (const t of current.stream.getTracks()) t.stop();
  }
  current = { session: null, timer: null, stream: null };
  $("visit-tiles").replaceChildren();
  $("visit-chat-log").replaceChildren();
}

let wired = false;

function wire(onClose) {
  if (wired) return;
  wired = true;
  $("visit-audio").addEventListener("click", async () => {
    const on = $("visit-audio").getAttribute("aria-pressed") !== "true";
    try {
      await current.session.audioOnly(on);
      $("visit-audio").setAttribute("aria-pressed", String(on));
      $("visit-audio").textContent = on ? "Turn video back on" : "Switch to audio only";
      announce(on ? "Audio only: your camera is off." : "Your camera is on again.");
    } catch (error) {
      showError(describe(error));
    }
  });
  $("visit-leave").addEventListener("click", () => current.session && current.session.leave());
  $("visit-chat").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = $("visit-chat-text").value.trim();
    const to = $("visit-chat").dataset.to;
    if (!text || !to) return;
    try {
      await current.session.send(text, to);
      $("visit-chat-log").append(el("li", { text: `You: ${text}` }));
      $("visit-chat-text").value = "";
      announce("Message sent to your clinician.");
    } catch (error) {
      showError(describe(error));
    }
  });
  $("visit-consent").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await current.api.consent($("visit-consent-recording").checked, $("visit-consent-share").checked);
      announce("Your choices are saved.");
    } catch (error) {
      showError(describe(error));
    }
  });
  $("visit-back").addEventListener("click", () => {
    reset();
    setStep(null); // nothing of this visit stays on screen (or clickable) when it reopens
    onClose();
  });
}

/** A signed-in patient opens the visit of one of their telehealth appointments. */
export async function openPatientVisit(appointmentId, onClose) {
  reset();
  wire(onClose);
  fillStates();
  $("visit-location").hidden = false;
  setStep("visit-check");
  $("visit-title").focus();
  const form = $("visit-join");
  // The handler is in place before the (slow) device check, so an early click never
  // submits the form natively.
  const checked = deviceCheck();
  form.onsubmit = async (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    const { stream, results } = await checked;
    current.stream = stream;
    const body = {
      location: { state: $("visit-state").value, at_home: $("visit-home-yes").checked },
      device_check: results,
    };
    try {
      const joined = await call("POST", `/v1/appointments/${encodeURIComponent(appointmentId)}/visit/waiting-room`, body);
      current.api = patientApi(joined.id);
      await waitForAdmission(current.api, stream || (await localStream()).stream);
    } catch (error) {
      if (!error.handled) showError(describe(error));
    }
  };
}

/** A guest with an invitation link (no account): redeem it, then the same waiting room. */
export async function openGuestVisit(invitation, onClose) {
  reset();
  wire(onClose);
  $("visit-location").hidden = true;
  setStep("visit-check");
  const checked = deviceCheck();
  $("visit-join").onsubmit = async (event) => {
    event.preventDefault();
    const { stream } = await checked;
    current.stream = stream;
    try {
      const redeemed = await guestCall("POST", "/v1/visit-guests", { token: invitation }, "");
      current.api = guestApi(redeemed.guest_token);
      await waitForAdmission(current.api, stream || (await localStream()).stream);
    } catch (error) {
      if (error instanceof ApiError && (error.status === 404 || error.status === 422)) {
        ui().ended("This invitation is not valid: it may have been used already or expired. Ask the clinician for a new one.");
        return;
      }
      showError(describe(error));
    }
  };
  await checked;
}

// Idle sign-out with a warning (GOV.UK "timeout warning" pattern). The server ends a
// session after the practice's idle minutes without a request; two minutes before that the
// app asks "stay signed in?" — unless the person has been typing or clicking, in which case
// it quietly tells the server they are still here. At the limit it signs out.

import { call } from "../../shared/api.js";
import { $ } from "./ui.js";

const WARN_BEFORE_MS = 120_000;
const state = { idleMs: 0, lastServer: 0, acted: false, warn: 0, end: 0, tick: 0, onTimeout: null };

function clearTimers() {
  clearTimeout(state.warn);
  clearTimeout(state.end);
  clearInterval(state.tick);
}

function closeDialog() {
  const dialog = $("idle-dialog");
  if (dialog.open) dialog.close();
}

function minutesLeft() {
  const left = Math.max(0, state.lastServer + state.idleMs - Date.now());
  const minutes = Math.ceil(left / 60000);
  return minutes <= 1 ? "1 minute" : `${minutes} minutes`;
}

function warn() {
  if (state.acted) {
    state.acted = false;
    call("GET", "/v1/me").catch(() => {}); // restarts the server's idle clock
    return;
  }
  const dialog = $("idle-dialog");
  $("idle-left").textContent = minutesLeft();
  state.tick = setInterval(() => ($("idle-left").textContent = minutesLeft()), 15_000);
  if (!dialog.open) dialog.showModal();
  $("idle-stay").focus();
}

function schedule() {
  clearTimers();
  if (!state.idleMs) return;
  const warnIn = Math.max(state.idleMs - WARN_BEFORE_MS, state.idleMs / 2);
  state.warn = setTimeout(warn, warnIn);
  state.end = setTimeout(() => {
    closeDialog();
    stopIdle();
    if (state.onTimeout) state.onTimeout();
  }, state.idleMs - 2_000);
}

function acted() {
  state.acted = true;
}

/** Called after every request the server saw (its idle clock restarted then). */
export function serverActivity() {
  if (!state.idleMs) return;
  state.lastServer = Date.now();
  state.acted = false; // the server has seen the person since
  closeDialog();
  schedule();
}

export function startIdle(minutes, onTimeout) {
  state.idleMs = minutes * 60_000;
  state.onTimeout = onTimeout;
  state.lastServer = Date.now();
  state.acted = false;
  document.addEventListener("keydown", acted, true);
  document.addEventListener("pointerdown", acted, true);
  schedule();
}

export function stopIdle() {
  clearTimers();
  state.idleMs = 0;
  document.removeEventListener("keydown", acted, true);
  document.removeEventListener("pointerdown", acted, true);
  closeDialog();
}

export function setUpIdle(onLeave) {
  $("idle-stay").addEventListener("click", () => {
    closeDialog();
    call("GET", "/v1/me").catch(() => {});
  });
  $("idle-leave").addEventListener("click", () => {
    closeDialog();
    onLeave();
  });
  // Escape closes the dialog: that counts as "stay".
  $("idle-dialog").addEventListener("cancel", () => call("GET", "/v1/me").catch(() => {}));
}

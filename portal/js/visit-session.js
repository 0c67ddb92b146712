// One person's side of a live visit, for patients, guests and (in the staff app) the
// clinician: media through the client the visit names (local WebRTC, or Chime in a frame
// of its own: visit-media-chime.js), remote tiles labelled with aliases only, audio-only
// fallback, chat, and the status poll that notices removal or the end. Loaded only on
// the visit page.

import { el } from "./ui.js";

const STATUS_MS = 3000;

/** getUserMedia with what the device check found; audio alone if the camera fails. */
export async function localStream() {
  try {
    return { stream: await navigator.mediaDevices.getUserMedia({ audio: true, video: true }), video: true };
  } catch {
    return { stream: await navigator.mediaDevices.getUserMedia({ audio: true }), video: false };
  }
}

/**
 * api: {visit() -> visit view, send(to, type, payload), receive(after), leave(), mode(m, reason)}
 * ui: {tiles, chatLog, say(message), ended(reason)}
 */
export class VisitSession {
  constructor(api, ui, stream) {
    this.api = api;
    this.ui = ui;
    this.stream = stream;
    this.media = null;
    this.aliases = new Map();
    this.timer = null;
    this.mode = "video";
    this.done = false;
  }

  async start(view) {
    this.me = view.me.participant_id;
    const transport = { send: this.api.send, receive: this.api.receive };
    if (view.media === "chime") {
      // Chime's SDK runs in a frame of its own, loaded only now (visit-media-chime.js).
      const { ChimeMedia } = await import("./visit-media-chime.js");
      this.media = new ChimeMedia(this.me, view.me.credentials, this.stream, transport, this.events());
    } else {
      const { LocalMedia } = await import("./visit-media-local.js");
      this.media = new LocalMedia(this.me, this.stream, transport, this.events());
    }
    this.apply(view);
    this.media.start();
    this.timer = setTimeout(() => this.refresh(), STATUS_MS);
  }

  events() {
    return {
      onRemote: (id, stream) => this.tile(id, stream),
      onState: (id, state) => {
        const tile = this.ui.tiles.querySelector(`[data-peer="${id}"]`);
        if (tile) tile.dataset.state = state;
        if (state === "connected") this.ui.say(`${this.aliases.get(id) || "Someone"} is connected.`);
      },
      onGone: (id) => {
        const tile = this.ui.tiles.querySelector(`[data-peer="${id}"]`);
        if (tile) tile.remove();
      },
      onChat: (message) => this.chat(message),
      // Chime: the media frame takes the tiles' place; a connection that fails is said.
      onFrame: (frame) => this.ui.tiles.replaceChildren(frame),
      onFailed: () => {
        this.ui.tiles.dataset.failed = "true";
        this.ui.say("The video connection failed. Leave the visit and join again, or call the practice.");
      },
    };
  }

  tile(id, stream) {
    let tile = this.ui.tiles.querySelector(`[data-peer="${id}"]`);
    const alias = this.aliases.get(id) || "Participant";
    if (!tile) {
      const video = el("video", { autoplay: true, playsinline: true, class: "remote" });
      tile = el("figure", { class: "tile", "data-peer": id }, video, el("figcaption", { text: alias }));
      this.ui.tiles.append(tile);
    }
    const video = tile.querySelector("video");
    video.srcObject = stream;
    video.play().catch(() => {});
  }

  chat(message) {
    const who = this.aliases.get(message.sender_id) || "Clinician";
    this.ui.chatLog.append(el("li", { text: `${who}: ${message.payload}` }));
    this.ui.say(`New message from ${who}.`);
  }

  apply(view) {
    for (const peer of view.peers) this.aliases.set(peer.participant_id, peer.alias);
    for (const tile of this.ui.tiles.querySelectorAll("figure")) {
      const caption = tile.querySelector("figcaption");
      caption.textContent = this.aliases.get(tile.dataset.peer) || caption.textContent;
    }
    if (view.mode !== this.mode) {
      this.mode = view.mode;
      this.ui.say(view.mode === "audio_only" ? "The visit continues with audio only." : "Video is back on.");
      if (this.media) this.media.setVideo(view.mode !== "audio_only");
    }
    if (this.media) this.media.update(view.peers);
  }

  async refresh() {
    if (this.done) return;
    try {
      const view = await this.api.visit();
      if (view.status === "ended") return this.finish("The visit has ended.");
      if (view.me.status !== "admitted") {
        const why = view.me.status === "removed" ? "The clinician ended your part in this visit." : "You have left the visit.";
        return this.finish(why);
      }
      this.apply(view);
    } catch (error) {
      if (error && error.status === 401) return this.finish("Your session has ended.");
    }
    this.timer = setTimeout(() => this.refresh(), STATUS_MS);
  }

  async audioOnly(on) {
    await this.api.mode(on ? "audio_only" : "video", on ? "video_failed" : "video_restored");
    this.mode = on ? "audio_only" : "video";
    this.media.setVideo(!on);
  }

  async send(text, to) {
    await this.api.send(to, "chat", text);
  }

  async leave() {
    try {
      await this.api.leave();
    } finally {
      this.finish("You have left the visit.");
    }
  }

  finish(message) {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    if (this.media) this.media.close();
    else for (const track of this.stream.getTracks()) track.stop();
    this.ui.tiles.replaceChildren();
    this.ui.ended(message);
  }
}

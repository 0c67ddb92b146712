// The Chime media frame. The visit page (portal or staff app) embeds /visit-media/ when the
// visit runs on Amazon Chime SDK meetings and talks to it with postMessage, same origin
// only. This document alone may connect to Chime's media endpoints (its own
// Content-Security-Policy; the portal's stays connect-src 'self'), and the third-party
// SDK it loads (vendor/chime.js, amazon-chime-sdk-js bundled by esbuild from web/, loaded
// here on first join) never sees the API session: it gets the attendee's credentials for
// this meeting and the aliases to show, nothing else.
//
// parent -> frame: {type: "join", meeting, attendee: {AttendeeId, JoinToken, ExternalUserId},
//                   aliases: {participantId: alias}, video: bool}
//                  {type: "aliases", aliases}   {type: "video", on}   {type: "leave"}
// frame -> parent: {type: "ready"}  {type: "state", peer, state}  {type: "gone", peer}
//                  {type: "started"}  {type: "stopped", failure: bool, code: number}
//                  {type: "error", reason}
//
// One tile per person present in the meeting (Chime's attendee presence, keyed by the
// external user id = the visit's participant id), labelled with the alias the API gave;
// their camera, when they send one, plays in it. A shared screen gets a tile of its own.

const tiles = document.getElementById("tiles");
const aliases = new Map();
let me = "";
let session = null;
let camera = null; // this person's camera stream while video is on
let audio = null; // and microphone

function tell(message) {
  window.parent.postMessage(message, location.origin);
}

function label(peer, content) {
  const alias = aliases.get(peer) || "Participant";
  return content ? `${alias} (screen)` : alias;
}

/** The figure for `key` (a participant id, or "content-<tileId>"), made on first use. */
function figure(key, peer, content) {
  let node = tiles.querySelector(`figure[data-key="${CSS.escape(key)}"]`);
  if (!node) {
    const video = document.createElement("video");
    video.autoplay = true;
    video.playsInline = true;
    video.muted = true; // sound plays through the one audio element
    video.className = "remote";
    const caption = document.createElement("figcaption");
    node = document.createElement("figure");
    node.className = "tile";
    node.dataset.key = key;
    node.dataset.peer = peer;
    node.append(video, caption);
    tiles.append(node);
  }
  node.querySelector("figcaption").textContent = label(peer, content);
  return node;
}

function presence(attendeeId, present, externalUserId) {
  const peer = (externalUserId || "").split("#")[0];
  if (!peer || peer === me || (externalUserId || "").includes("#")) return;
  if (present) {
    const node = figure(peer, peer, false);
    node.dataset.state = "connected";
    tell({ type: "state", peer, state: "connected" });
  } else {
    const node = tiles.querySelector(`figure[data-key="${CSS.escape(peer)}"]`);
    if (node) node.remove();
    tell({ type: "gone", peer });
  }
}

const observer = {
  videoTileDidUpdate(tile) {
    if (tile.localTile || !tile.tileId || !tile.boundExternalUserId) return;
    const peer = tile.boundExternalUserId.split("#")[0];
    const key = tile.isContent ? `content-${tile.tileId}` : peer;
    const node = figure(key, peer, tile.isContent);
    node.dataset.tile = String(tile.tileId);
    node.dataset.video = tile.active && !tile.paused ? "on" : "off";
    session.audioVideo.bindVideoElement(tile.tileId, node.querySelector("video"));
  },
  videoTileWasRemoved(tileId) {
    const node = tiles.querySelector(`figure[data-tile="${tileId}"]`);
    if (!node) return;
    if (node.dataset.key.startsWith("content-")) node.remove();
    else {
      node.dataset.video = "off";
      delete node.dataset.tile;
    }
  },
  audioVideoDidStart() {
    tell({ type: "started" });
  },
  audioVideoDidStop(status) {
    tell({ type: "stopped", failure: status.isFailure(), code: status.statusCode() });
  },
};

async function startCamera() {
  camera = await navigator.mediaDevices.getUserMedia({ video: true });
  await session.audioVideo.startVideoInput(camera);
  session.audioVideo.startLocalVideoTile();
}

async function stopCamera() {
  session.audioVideo.stopLocalVideoTile();
  await session.audioVideo.stopVideoInput();
  if (camera) for (const track of camera.getTracks()) track.stop(); // the camera light goes off
  camera = null;
}

async function join(message) {
  const chime = await import("./vendor/chime.js");
  const logger = new chime.NoOpLogger(); // the app logs nothing
  const configuration = new chime.MeetingSessionConfiguration(
    { Meeting: message.meeting },
    { Attendee: message.attendee },
  );
  me = message.attendee.ExternalUserId;
  session = new chime.DefaultMeetingSession(configuration, logger, new chime.DefaultDeviceController(logger));
  const av = session.audioVideo;
  av.addObserver(observer);
  av.realtimeSubscribeToAttendeeIdPresence(presence);
  audio = await navigator.mediaDevices.getUserMedia({ audio: true });
  await av.startAudioInput(audio);
  await av.bindAudioElement(document.getElementById("audio"));
  av.start();
  if (message.video !== false) {
    try {
      await startCamera();
    } catch {
      /* no camera: the person takes part by audio (the device check said so) */
    }
  }
}

async function leave() {
  if (session) {
    const av = session.audioVideo;
    session = null;
    av.stopLocalVideoTile();
    av.stop();
    await av.stopVideoInput().catch(() => {});
    await av.stopAudioInput().catch(() => {});
  }
  for (const stream of [camera, audio]) if (stream) for (const track of stream.getTracks()) track.stop();
  camera = null;
  audio = null;
  tiles.replaceChildren();
}

function relabel() {
  for (const node of tiles.querySelectorAll("figure")) {
    const content = node.dataset.key.startsWith("content-");
    node.querySelector("figcaption").textContent = label(node.dataset.peer, content);
  }
}

window.addEventListener("message", async (event) => {
  if (event.origin !== location.origin || event.source !== window.parent) return;
  const message = event.data || {};
  try {
    if (message.aliases) {
      for (const [id, alias] of Object.entries(message.aliases)) aliases.set(id, alias);
      relabel();
    }
    if (message.type === "join" && !session) await join(message);
    else if (message.type === "video" && session) {
      // audio-only fallback: stop sending video and release the camera; and back
      if (message.on && !camera) await startCamera();
      else if (!message.on && camera) await stopCamera();
    } else if (message.type === "leave") await leave();
  } catch (error) {
    tell({ type: "error", reason: error && error.name ? error.name : "error" });
  }
});

window.addEventListener("pagehide", () => {
  leave();
});
tell({ type: "ready" });

// tpm dev's media: browser-to-browser WebRTC, signalled through the visit's message queue
// (POST/GET …/messages). Shared by the portal and the staff app; loaded only on the visit
// page. Non-trickle: each offer/answer carries its ICE candidates, and only loopback
// candidates are sent (tpm dev is one machine; no STUN/TURN server is ever contacted).

const GATHER_MS = 3000;
const FAST_MS = 700;
const SLOW_MS = 3000;

function loopbackOnly(sdp) {
  return sdp
    .split("\r\n")
    .filter((line) => !line.startsWith("a=candidate:") || / (127\.\d+\.\d+\.\d+|::1) /.test(line))
    .join("\r\n");
}

function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState === "complete") {
        pc.removeEventListener("icegatheringstatechange", done);
        resolve();
      }
    };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, GATHER_MS);
  });
}

/**
 * transport: {send(to, type, payload), receive(after) -> [{id, sender_id, type, payload}]}
 * events: {onRemote(peerId, stream), onState(peerId, state), onGone(peerId), onChat(msg)}
 */
export class LocalMedia {
  constructor(me, localStream, transport, events) {
    this.me = me;
    this.local = localStream;
    this.transport = transport;
    this.events = events;
    this.peers = new Map(); // participant id -> RTCPeerConnection
    this.seen = new Set();
    this.after = null;
    this.timer = null;
    this.closed = false;
  }

  start() {
    this.poll();
  }

  /** The admitted people now in the session (aliases only): connect to new ones. */
  update(peers) {
    const ids = new Set(peers.map((p) => p.participant_id));
    for (const id of [...this.peers.keys()]) if (!ids.has(id)) this.drop(id);
    for (const id of ids) {
      if (!this.peers.has(id) && this.me < id) this.offer(id);
    }
  }

  connection(id) {
    let pc = this.peers.get(id);
    if (pc) return pc;
    pc = new RTCPeerConnection({ iceServers: [] });
    for (const track of this.local.getTracks()) pc.addTrack(track, this.local);
    pc.addEventListener("track", (event) => {
      const stream = event.streams[0] || new MediaStream([event.track]);
      this.events.onRemote(id, stream);
    });
    pc.addEventListener("connectionstatechange", () => {
      this.events.onState(id, pc.connectionState);
      if (pc.connectionState === "failed") this.drop(id);
    });
    this.peers.set(id, pc);
    return pc;
  }

  async offer(id) {
    const pc = this.connection(id);
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    await this.transport.send(id, "offer", JSON.stringify({ type: "offer", sdp: loopbackOnly(pc.localDescription.sdp) }));
  }

  async answer(id, description) {
    const pc = this.connection(id);
    await pc.setRemoteDescription(description);
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered(pc);
    await this.transport.send(id, "answer", JSON.stringify({ type: "answer", sdp: loopbackOnly(pc.localDescription.sdp) }));
  }

  async handle(message) {
    const from = message.sender_id;
    if (message.type === "chat") {
      this.events.onChat(message);
    } else if (message.type === "offer") {
      if (this.peers.has(from)) this.drop(from, false); // a peer that reconnected
      await this.answer(from, JSON.parse(message.payload));
    } else if (message.type === "answer") {
      const pc = this.peers.get(from);
      if (pc && pc.signalingState === "have-local-offer") {
        await pc.setRemoteDescription(JSON.parse(message.payload));
      }
    } else if (message.type === "bye") {
      this.drop(from, false);
    }
  }

  async poll() {
    if (this.closed) return;
    try {
      const items = await this.transport.receive(this.after);
      for (const message of items) {
        if (this.seen.has(message.id)) continue;
        this.seen.add(message.id);
        this.after = message.id;
        await this.handle(message);
      }
    } catch {
      /* a missed poll is retried; the visit status poll reports a lost session */
    }
    const settling = [...this.peers.values()].some((pc) => pc.connectionState !== "connected");
    this.timer = setTimeout(() => this.poll(), settling || this.peers.size === 0 ? FAST_MS : SLOW_MS);
  }

  /** Audio only: stop sending video (the camera light goes off); back: send it again. */
  setVideo(on) {
    for (const track of this.local.getVideoTracks()) track.enabled = on;
  }

  /** Screen sharing: swap the camera for the screen on every connection (no renegotiation). */
  async replaceVideo(track) {
    for (const pc of this.peers.values()) {
      const sender = pc.getSenders().find((s) => s.track && s.track.kind === "video");
      if (sender) await sender.replaceTrack(track);
    }
  }

  drop(id, tell = true) {
    const pc = this.peers.get(id);
    if (!pc) return;
    pc.close();
    this.peers.delete(id);
    this.events.onGone(id);
    if (tell) this.transport.send(id, "bye", "{}").catch(() => {});
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    for (const id of [...this.peers.keys()]) this.drop(id, false);
    for (const track of this.local.getTracks()) track.stop();
  }
}

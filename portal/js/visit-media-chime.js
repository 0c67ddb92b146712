// Amazon Chime SDK meetings in the browser, for the portal and the staff app alike. The
// media run in a frame of their own (/visit-media/, frame.js): only that document may
// connect to Chime's media endpoints, and the SDK there never sees the API session. This
// side hands the frame the attendee's credentials and the aliases to show, relays its
// tile states to the session, and polls the visit's message queue for chat (Chime carries
// audio and video; chat stays in the API, where it is sealed and audited).

const FRAME = "/visit-media/index.html";
const CHAT_MS = 3000;

/**
 * credentials: {attendee_id, join_token, meeting} from the visit view (admitted only)
 * transport: {receive(after) -> [{id, sender_id, type, payload}]}
 * events: {onFrame(iframe), onState(peerId, state), onGone(peerId), onChat(msg), onFailed()}
 */
export class ChimeMedia {
  constructor(me, credentials, localStream, transport, events) {
    this.me = me;
    this.credentials = credentials;
    this.transport = transport;
    this.events = events;
    this.aliases = {};
    this.video = localStream.getVideoTracks().length > 0;
    // The frame opens the devices itself: the page's own (device check) stream goes.
    for (const track of localStream.getTracks()) track.stop();
    this.frame = null;
    this.after = null;
    this.seen = new Set();
    this.timer = null;
    this.closed = false;
    this.onMessage = (event) => this.fromFrame(event);
  }

  start() {
    const frame = document.createElement("iframe");
    frame.src = FRAME;
    frame.title = "Video of the people in the visit";
    frame.className = "visit-media";
    frame.allow = "camera; microphone; display-capture; autoplay";
    this.frame = frame;
    window.addEventListener("message", this.onMessage);
    this.events.onFrame(frame);
    this.poll();
  }

  post(message) {
    if (this.frame && this.frame.contentWindow) this.frame.contentWindow.postMessage(message, location.origin);
  }

  fromFrame(event) {
    if (!this.frame || event.source !== this.frame.contentWindow || event.origin !== location.origin) return;
    const message = event.data || {};
    if (message.type === "ready") {
      const c = this.credentials;
      this.post({
        type: "join",
        meeting: c.meeting,
        attendee: { AttendeeId: c.attendee_id, JoinToken: c.join_token, ExternalUserId: this.me },
        aliases: this.aliases,
        video: this.video,
      });
    } else if (message.type === "state") this.events.onState(message.peer, message.state);
    else if (message.type === "gone") this.events.onGone(message.peer);
    else if ((message.type === "stopped" && message.failure) || message.type === "error") this.events.onFailed();
  }

  /** The admitted people (aliases only): the frame labels their tiles with them. */
  update(peers) {
    this.aliases = Object.fromEntries(peers.map((p) => [p.participant_id, p.alias]));
    this.post({ type: "aliases", aliases: this.aliases });
  }

  setVideo(on) {
    this.post({ type: "video", on });
  }

  async poll() {
    if (this.closed) return;
    try {
      for (const message of await this.transport.receive(this.after)) {
        if (this.seen.has(message.id)) continue;
        this.seen.add(message.id);
        this.after = message.id;
        if (message.type === "chat") this.events.onChat(message);
      }
    } catch {
      /* a missed poll is retried; the visit status poll reports a lost session */
    }
    this.timer = setTimeout(() => this.poll(), CHAT_MS);
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    this.post({ type: "leave" });
    window.removeEventListener("message", this.onMessage);
    if (this.frame) this.frame.remove();
    this.frame = null;
  }
}

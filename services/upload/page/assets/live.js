// Follows images over the notifier's websocket: authenticates with the `auth` message,
// subscribes by id, reconnects with backoff after a dropped connection and catches up
// through the snapshot each new subscription answers with. No polling.

const STATUS_OF_EVENT = {
  "io.clearcut.image.processing.started.v1": "processing",
  "io.clearcut.image.processing.completed.v1": "completed",
  "io.clearcut.image.processing.failed.v1": "failed",
};
const MAX_BACKOFF_MS = 10000;
const UNKNOWN_RETRIES = 5;

export class Live {
  /**
   * handlers: onConnection(state, retryInSeconds), onOwner(owner),
   * onImage(imageId, {status, taskId, attempt, error}), onUnauthorized().
   */
  constructor(url, key, handlers) {
    this.url = url;
    this.key = key;
    this.handlers = handlers;
    this.followed = new Set();
    this.unknownTries = new Map();
    this.attempt = 0;
    this.socket = null;
    this.ready = false;
    this.stopped = false;
    this.timer = null;
    this.onBrowserOnline = () => this.reconnectNow();
  }

  start() {
    window.addEventListener("online", this.onBrowserOnline);
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this.onBrowserOnline);
    clearTimeout(this.timer);
    if (this.socket) this.socket.close(1000, "signed out");
  }

  follow(ids) {
    const fresh = ids.filter((id) => id);
    for (const id of fresh) this.followed.add(id);
    if (fresh.length && this.ready) this.send({ type: "subscribe", images: fresh });
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(message));
    }
  }

  connect() {
    if (this.stopped) return;
    this.ready = false;
    if (this.attempt === 0) this.handlers.onConnection("connecting", 0);
    let socket;
    try {
      socket = new WebSocket(this.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.addEventListener("open", () => socket.send(JSON.stringify({ type: "auth", key: this.key })));
    socket.addEventListener("message", (event) => this.receive(event.data));
    socket.addEventListener("close", (event) => {
      if (this.socket !== socket) return;
      this.ready = false;
      this.socket = null;
      if (event.code === 4401) {
        this.stopped = true;
        this.handlers.onUnauthorized();
        return;
      }
      this.scheduleReconnect();
    });
  }

  reconnectNow() {
    if (this.stopped || this.socket) return;
    clearTimeout(this.timer);
    this.attempt = 0;
    this.connect();
  }

  scheduleReconnect() {
    if (this.stopped) return;
    const base = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.attempt);
    const delay = base / 2 + Math.random() * (base / 2);
    this.attempt += 1;
    this.handlers.onConnection("offline", Math.ceil(delay / 1000));
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    switch (message.type) {
      case "welcome":
        this.ready = true;
        this.attempt = 0;
        this.handlers.onConnection("online", 0);
        this.handlers.onOwner(message.owner);
        if (this.followed.size) this.send({ type: "subscribe", images: [...this.followed] });
        break;
      case "snapshot":
        for (const image of message.images || []) {
          this.unknownTries.delete(image.image_id);
          this.handlers.onImage(image.image_id, {
            status: image.status,
            taskId: image.task_id,
            attempt: image.attempt || 0,
            error: image.error,
          });
        }
        break;
      case "event": {
        const status = STATUS_OF_EVENT[message.event?.type];
        const data = message.event?.data || {};
        if (!status) break;
        this.handlers.onImage(message.image_id, {
          status,
          taskId: data.task_id,
          attempt: data.attempt || 0,
          error: status === "failed" ? { reason: data.reason, message: data.message } : null,
        });
        break;
      }
      case "error":
        if (message.code === "unknown_image" && message.image_id) this.retryUnknown(message.image_id);
        break;
      default:
        break;
    }
  }

  // An upload the read model has not applied yet: ask again a little later.
  retryUnknown(id) {
    const tries = (this.unknownTries.get(id) || 0) + 1;
    this.unknownTries.set(id, tries);
    if (tries > UNKNOWN_RETRIES) return;
    setTimeout(() => {
      if (this.ready && this.followed.has(id)) this.send({ type: "subscribe", images: [id] });
    }, 1000 * tries);
  }
}

// The page's one WebSocket: reconnects with exponential backoff and full jitter, pings
// to notice a dead link, and keeps an outbox of unacknowledged messages.

const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 15000;
const PING_EVERY_MS = 25000;
const PONG_WITHIN_MS = 10000;
const CLOSE_UNAUTHENTICATED = 4401; // no credential, or this device was signed out
const CLOSE_DEACTIVATED = 4403; // the account was deactivated: retrying cannot help

export class Connection {
  // handlers: hello(frame), frame(frame), down({retryIn}), unauthenticated()
  constructor(url, handlers) {
    this.url = url;
    this.handlers = handlers;
    this.ws = null;
    this.ready = false;
    this.attempt = 0;
    this.retryTimer = null;
    this.awaitingPong = null;
    setInterval(() => this.ping(), PING_EVERY_MS);
    window.addEventListener("online", () => this.reconnectNow());
  }

  connect() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onmessage = (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame.type === "pong") {
        this.awaitingPong = null;
      } else if (frame.type === "hello") {
        this.ready = true;
        this.attempt = 0;
        this.handlers.hello(frame);
      } else {
        this.handlers.frame(frame);
      }
    };
    ws.onclose = (event) => this.dropped(ws, event.code);
  }

  dropped(ws, code) {
    if (this.ws !== ws) return;
    ws.onmessage = ws.onclose = null;
    this.ws = null;
    this.ready = false;
    this.awaitingPong = null;
    if (code === CLOSE_UNAUTHENTICATED || code === CLOSE_DEACTIVATED) {
      this.handlers.unauthenticated();
      return;
    }
    // Full jitter: a server restart must not have every page come back in the same instant.
    const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    const delay = Math.round(cap / 2 + (Math.random() * cap) / 2);
    this.attempt += 1;
    this.retryTimer = setTimeout(() => this.connect(), delay);
    this.handlers.down({ retryIn: delay });
  }

  reconnectNow() {
    if (this.ws === null) {
      this.attempt = 0;
      this.connect();
    }
  }

  ping() {
    if (!this.ready) return;
    if (this.awaitingPong !== null && Date.now() - this.awaitingPong > PONG_WITHIN_MS) {
      const ws = this.ws;
      this.dropped(ws, 1006);
      ws.close();
      return;
    }
    this.awaitingPong = Date.now();
    this.send({ type: "ping" });
  }

  // False when offline: callers keep what must survive (the outbox) and resend after `hello`.
  send(frame) {
    if (!this.ready || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }
}

// Messages not yet acknowledged, kept in memory and in sessionStorage (a reload keeps them).
export class Outbox {
  constructor(key) {
    this.key = key;
    try {
      this.items = JSON.parse(sessionStorage.getItem(key) || "[]");
    } catch {
      this.items = [];
    }
  }

  save() {
    try {
      sessionStorage.setItem(this.key, JSON.stringify(this.items));
    } catch {
      // Storage full or disabled: the in-memory copy still gets sent.
    }
  }

  add(item) {
    this.items.push(item);
    this.save();
  }

  remove(clientId) {
    const before = this.items.length;
    this.items = this.items.filter((item) => item.client_id !== clientId);
    if (this.items.length !== before) this.save();
  }

  has(clientId) {
    return this.items.some((item) => item.client_id === clientId);
  }
}

export function newClientId() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`;
}

// Notifications: the bell's badge and list, and a desktop notification where allowed.

import { api } from "./api.js";
import { formatTime } from "./render.js";

const LIST_SIZE = 30;
const VERBS = {
  mention: "mentioned you",
  direct_message: "sent you a message",
  invitation: "added you to a room",
};

export class Notifications {
  // seen(n): whether the user has already read the message a notification is about.
  constructor(unread, openRoomId, seen) {
    this.unread = unread;
    this.openRoomId = openRoomId;
    this.seen = seen;
    this.items = new Map();
    this.button = document.getElementById("notifications-button");
    this.panel = document.getElementById("notifications-panel");
    this.list = document.getElementById("notification-list");
    this.badge = document.getElementById("notifications-badge");
    this.enable = document.getElementById("notifications-enable");
    this.button.addEventListener("click", () => this.toggle());
    document.getElementById("notifications-read-all").addEventListener("click", () => this.markAllRead());
    this.list.addEventListener("click", (event) => {
      const li = event.target.closest("li[data-id]");
      if (li) this.markRead([Number(li.dataset.id)]);
    });
    if ("Notification" in window && Notification.permission === "default") {
      this.enable.hidden = false;
      this.enable.addEventListener("click", async () => {
        await Notification.requestPermission();
        this.enable.hidden = Notification.permission === "default";
      });
    }
    this.render();
    this.refresh();
  }

  toggle() {
    const open = this.panel.hidden;
    this.panel.hidden = !open;
    this.button.setAttribute("aria-expanded", String(open));
    if (open) this.refresh();
  }

  refresh() {
    this.loaded = this.load().catch(() => {});
  }

  async load() {
    const page = await api("GET", `notifications/?limit=${LIST_SIZE}`);
    for (const n of page.results) this.items.set(n.id, n);
    this.render();
  }

  setUnread(count) {
    this.unread = Math.max(0, count);
    this.render();
  }

  // A `notification` frame.
  add(n) {
    if (this.items.has(n.id)) return;
    this.items.set(n.id, n);
    this.unread += 1;
    this.render();
    if (this.seen(n)) {
      // It is about a message already on screen and read (the frames raced): no news.
      this.markRead([n.id]);
      return;
    }
    const elsewhere = document.visibilityState !== "visible" || n.room !== this.openRoomId;
    if (elsewhere && "Notification" in window && Notification.permission === "granted") {
      const shown = new Notification(`${n.actor ? n.actor.display_name : "Someone"} ${VERBS[n.kind] || ""}`, {
        body: n.snippet,
        tag: `notification-${n.id}`,
      });
      shown.onclick = () => {
        window.focus();
        if (n.room) window.location.href = `/rooms/${n.room}/`;
      };
    }
  }

  // The user read a room up to a seq: its notifications are no news any more.
  async roomRead(roomId, upTo) {
    await this.loaded;
    const ids = [...this.items.values()]
      .filter((n) => !n.read_at && n.room === roomId && (n.seq === null || n.seq <= upTo))
      .map((n) => n.id);
    if (ids.length) this.markRead(ids);
  }

  async markRead(ids) {
    const now = new Date().toISOString();
    for (const id of ids) if (this.items.has(id)) this.items.get(id).read_at = now;
    const result = await api("POST", "notifications/read/", { ids });
    this.setUnread(result.unread);
  }

  async markAllRead() {
    for (const n of this.items.values()) n.read_at = n.read_at || new Date().toISOString();
    const result = await api("POST", "notifications/read/", { all: true });
    this.setUnread(result.unread);
  }

  render() {
    this.badge.textContent = this.unread;
    this.badge.hidden = this.unread === 0;
    this.button.setAttribute("aria-label", `Notifications, ${this.unread} unread`);
    const sorted = [...this.items.values()].sort((a, b) => b.id - a.id).slice(0, LIST_SIZE);
    this.list.replaceChildren(
      ...sorted.map((n) => {
        const li = document.createElement("li");
        li.dataset.id = n.id;
        li.classList.toggle("unread", !n.read_at);
        const link = document.createElement("a");
        link.href = n.room ? `/rooms/${n.room}/${n.message ? `#m-${n.message}` : ""}` : "#";
        const who = document.createElement("strong");
        who.textContent = n.actor ? n.actor.display_name : "Someone";
        const snippet = document.createElement("span");
        snippet.className = "snippet";
        snippet.textContent = n.snippet;
        const time = document.createElement("time");
        time.dateTime = n.created_at;
        time.textContent = formatTime(n.created_at);
        link.append(who, ` ${VERBS[n.kind] || ""} `, time, snippet);
        li.append(link);
        return li;
      }),
    );
    document.getElementById("notifications-empty").hidden = sorted.length > 0;
  }
}

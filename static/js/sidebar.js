// The room list: unread badges, presence dots, newest activity first, and the page title.

import { api } from "./api.js";
import { roomItem, roomTitle } from "./render.js";

export class Sidebar {
  constructor(rooms, me, currentRoomId) {
    this.me = me;
    this.currentRoomId = currentRoomId;
    this.rooms = new Map(rooms.map((room) => [room.id, { ...room }]));
    this.baseTitle = document.title.replace(/^\(\d+\) /, "");
    const app = document.getElementById("app");
    const button = document.getElementById("menu-button");
    const toggle = (open) => {
      app.classList.toggle("sidebar-open", open);
      button.setAttribute("aria-expanded", String(open));
    };
    button.addEventListener("click", () => toggle(!app.classList.contains("sidebar-open")));
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && app.classList.contains("sidebar-open")) {
        toggle(false);
        button.focus();
      }
    });
  }

  item(roomId) {
    return document.querySelector(`.room-item[data-room-id="${roomId}"]`);
  }

  has(roomId) {
    return this.rooms.has(roomId);
  }

  get(roomId) {
    return this.rooms.get(roomId);
  }

  setUnread(roomId, count) {
    const room = this.rooms.get(roomId);
    if (!room) return;
    room.unread_count = Math.max(0, count);
    const badge = this.item(roomId)?.querySelector(".badge.unread");
    if (badge) {
      badge.querySelector(".count").textContent = room.unread_count;
      badge.hidden = room.unread_count === 0;
    }
    this.updateTitle();
  }

  // A message arrived in a room: it moves to the top, and counts as unread if not ours.
  activity(roomId, message) {
    const room = this.rooms.get(roomId);
    if (!room || message.seq <= room.last_seq) return false;
    room.last_seq = message.seq;
    const li = this.item(roomId);
    if (li && li.parentElement.firstElementChild !== li) li.parentElement.prepend(li);
    if (message.sender && message.sender.id !== this.me.id) this.setUnread(roomId, room.unread_count + 1);
    return true;
  }

  add(room) {
    if (this.rooms.has(room.id)) return;
    const entry = {
      id: room.id,
      kind: room.kind,
      title: roomTitle(room, this.me),
      unread_count: room.unread_count || 0,
      last_seq: room.last_seq || 0,
      other_user: null,
      presence: "offline",
    };
    const others = (room.members || []).filter((m) => m.id !== this.me.id);
    if (room.kind === "direct" && others.length === 1) entry.other_user = others[0].id;
    this.rooms.set(room.id, entry);
    const list = document.getElementById(room.kind === "direct" ? "direct-list" : "room-list");
    list.querySelector(".empty")?.remove();
    list.prepend(roomItem(entry));
    this.setUnread(room.id, entry.unread_count);
    if (entry.other_user) this.refreshPresence([entry.other_user]);
  }

  remove(roomId) {
    this.rooms.delete(roomId);
    this.item(roomId)?.remove();
    this.updateTitle();
  }

  rename(room) {
    const entry = this.rooms.get(room.id);
    if (!entry || room.kind === "direct") return;
    entry.title = room.name;
    const name = this.item(room.id)?.querySelector(".room-name");
    if (name) name.textContent = room.name;
  }

  setPresence(userId, status) {
    for (const dot of document.querySelectorAll(`[data-user-id="${userId}"] .presence`)) {
      dot.className = `presence presence-${status}`;
      dot.setAttribute("aria-label", status);
      dot.title = status;
    }
  }

  async refreshPresence(userIds) {
    const wanted = userIds || [...this.rooms.values()].map((r) => r.other_user).filter(Boolean);
    if (!wanted.length) return;
    const presence = await api("GET", `presence/?users=${wanted.join(",")}`);
    for (const [userId, { status }] of Object.entries(presence)) this.setPresence(userId, status);
  }

  // After a reconnect: rooms joined or left meanwhile, from the REST room list.
  async reload(knownIds) {
    const rooms = await api("GET", "rooms/");
    const ids = new Set(rooms.map((r) => r.id));
    for (const room of rooms) if (!this.rooms.has(room.id)) this.add(room);
    for (const id of knownIds) if (!ids.has(id)) this.remove(id);
  }

  updateTitle() {
    let total = 0;
    for (const room of this.rooms.values()) total += room.unread_count;
    document.title = total ? `(${total}) ${this.baseTitle}` : this.baseTitle;
  }
}

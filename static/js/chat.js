// The live part of the chat page: one WebSocket for every room, wired to the sidebar,
// the open room, the composer and the notifications. See docs/protocol.md for the frames.

import { api } from "./api.js";
import { setUpLightbox, UploadTray } from "./attachments.js";
import { Connection, newClientId, Outbox } from "./connection.js";
import { Notifications } from "./notify.js";
import { RoomView } from "./room.js";
import { Search } from "./search.js";
import { Sidebar } from "./sidebar.js";

const TYPING_RENEW_MS = 3000;
const TYPING_IDLE_MS = 5000;

const state = JSON.parse(document.getElementById("chat-state").textContent);
const me = state.user;
const sidebar = new Sidebar(state.rooms, me, state.room ? state.room.id : null);
const notifications = new Notifications(
  state.notifications_unread,
  state.room ? state.room.id : null,
  (n) => room !== null && n.room === room.id && n.seq !== null && room.readSent >= n.seq,
);
const outbox = new Outbox(`chat.outbox.${me.id}`);
const banner = document.getElementById("banner");
const connectionLabel = document.getElementById("connection");
let room = null;
let everConnected = false;
const syncing = new Set();

const scheme = window.location.protocol === "https:" ? "wss" : "ws";
const connection = new Connection(`${scheme}://${window.location.host}/ws/`, {
  hello: onHello,
  frame: onFrame,
  down: onDown,
  unauthenticated: () => window.location.assign(`/accounts/login/?next=${encodeURIComponent(location.pathname)}`),
});
const send = (frame) => connection.send(frame);

function setConnectionState(name, label) {
  document.body.dataset.connection = name;
  connectionLabel.dataset.state = name;
  connectionLabel.textContent = label;
}

// --- connection lifecycle -------------------------------------------------------------------
function onDown({ retryIn }) {
  setConnectionState("offline", `Offline, retrying in ${Math.ceil(retryIn / 1000)} s`);
  banner.hidden = false;
  syncing.clear(); // unanswered syncs are asked again after the next hello
  room?.typists.clear();
  room?.renderTyping();
}

function onHello(hello) {
  setConnectionState("online", "Online");
  banner.hidden = true;
  const reconnect = everConnected;
  everConnected = true;
  if (document.visibilityState !== "visible") send({ type: "presence", status: "away" });
  const known = new Set(hello.rooms.map((r) => r.id));
  for (const id of [...sidebar.rooms.keys()]) if (!known.has(id)) sidebar.remove(id);
  if (hello.rooms.some((r) => !sidebar.has(r.id))) sidebar.reload([]);
  for (const summary of hello.rooms) {
    const entry = sidebar.get(summary.id);
    if (entry && summary.last_seq > entry.last_seq && summary.id !== room?.id) {
      entry.last_seq = summary.last_seq;
      send({ type: "delivered", room: summary.id, up_to: summary.last_seq });
    }
    sidebar.setUnread(summary.id, summary.unread_count);
  }
  notifications.setUnread(hello.notifications_unread);
  if (room?.member) {
    if (!known.has(room.id)) roomGone("You are no longer a member of this room.");
    else if (!room.hasNewer) syncRoom(room.id, room.lastSeq);
  }
  if (reconnect) {
    sidebar.refreshPresence();
    notifications.refresh();
  }
  // Messages typed while offline, and any sent but never acknowledged: the same
  // client_id again never makes a second message.
  for (const item of outbox.items) {
    if (item.failed) continue;
    send(sendFrame(item));
  }
  readIfSeen();
}

function sendFrame(item) {
  const frame = { type: "message.send", room: item.room, body: item.body, client_id: item.client_id };
  if (item.attachments?.length) frame.attachments = item.attachments.map((a) => a.id);
  return frame;
}

function syncRoom(roomId, after) {
  if (syncing.has(roomId)) return;
  syncing.add(roomId);
  send({ type: "sync", room: roomId, after, limit: 200 });
}

// --- frames -----------------------------------------------------------------------------------
const handlers = {
  "message.ack": (f) => {
    outbox.remove(f.client_id);
    incoming(f.message);
  },
  "message.new": (f) => incoming(f.message),
  "message.updated": (f) => {
    if (room && f.message.room === room.id) room.upsert(f.message);
  },
  "message.deleted": (f) => {
    if (room && f.room === room.id) room.removed(f);
  },
  sync: (f) => {
    syncing.delete(f.room);
    for (const message of f.messages) incoming(message, true);
    if (f.has_more && f.messages.length) syncRoom(f.room, f.messages[f.messages.length - 1].seq);
  },
  receipt: (f) => {
    if (f.user === me.id) {
      // Our other device read the room: so have we, as far as the badge goes.
      const entry = sidebar.get(f.room);
      if (entry && f.status === "read") sidebar.setUnread(f.room, entry.last_seq - f.up_to);
    } else if (room && f.room === room.id) {
      room.receipt(f);
    }
  },
  typing: (f) => {
    if (room && f.room === room.id) room.typing(f);
  },
  presence: (f) => sidebar.setPresence(f.user, f.status),
  notification: (f) => notifications.add(f.notification),
  "room.joined": (f) => {
    sidebar.add(f.room);
    if (room && f.room.id === room.id && !room.member) window.location.reload();
    // A message may have come between joining and subscribing: ask for anything after.
    else syncRoom(f.room.id, f.room.last_seq);
  },
  "room.left": (f) => {
    sidebar.remove(f.room.id);
    if (room && f.room.id === room.id && room.member) {
      roomGone(f.reason === "deleted" ? "This room was deleted." : "You are no longer a member of this room.");
    }
  },
  "room.updated": (f) => {
    sidebar.rename(f.room);
    if (room && f.room.id === room.id) {
      if (f.room.kind !== "direct") document.getElementById("room-topic").textContent = f.room.topic;
      if (f.room.member_count !== undefined) room.membersChanged(f.room.member_count).catch(() => {});
    }
  },
  error: (f) => {
    if (!f.ref) syncing.clear();
    if (f.code === "throttled" && f.ref && outbox.has(f.ref)) {
      // Sending too fast: nothing was stored. Send it again, same client_id, once allowed.
      const item = outbox.items.find((i) => i.client_id === f.ref);
      const resend = () => {
        if (outbox.has(item.client_id)) {
          send({ type: "message.send", room: item.room, body: item.body, client_id: item.client_id });
        }
      };
      setTimeout(resend, (f.retry_after || 1) * 1000);
    } else if (f.ref && outbox.has(f.ref)) {
      outbox.remove(f.ref);
      room?.markFailed(f.ref, f.detail);
    } else {
      console.warn("chat:", f.code, f.detail);
    }
  },
};

function onFrame(frame) {
  handlers[frame.type]?.(frame);
}

// A message from an ack, a broadcast or a sync: each is shown once, by id.
function incoming(message, fromSync = false) {
  if (room && message.room === room.id) {
    if (room.hasNewer && message.seq > room.lastSeq) {
      // Reading older history (around a search result): newer messages load on scrolling
      // down; an update of one on screen still shows.
      return;
    }
    if (!fromSync && message.seq > room.lastSeq + 1) {
      // A frame went missing (live delivery is best effort; the database has every seq): fetch the gap.
      syncRoom(room.id, room.lastSeq);
      return;
    }
    if (!room.upsert(message)) return;
    const entry = sidebar.get(room.id);
    if (entry) entry.last_seq = Math.max(entry.last_seq, message.seq);
    readIfSeen();
    if (message.sender?.id !== me.id && room.readSent < message.seq && entry) {
      sidebar.setUnread(room.id, entry.unread_count + 1);
    }
    return;
  }
  if (sidebar.activity(message.room, message) && message.sender?.id !== me.id) {
    send({ type: "delivered", room: message.room, up_to: message.seq });
  }
}

function readIfSeen() {
  if (!room || !room.markRead()) return false;
  sidebar.setUnread(room.id, 0);
  notifications.roomRead(room.id, room.lastSeq);
  return true;
}

function roomGone(text) {
  const composer = document.getElementById("composer");
  if (!composer) return;
  room.member = false;
  const note = document.createElement("p");
  note.className = "join-bar";
  note.textContent = text;
  composer.replaceWith(note);
}

// --- composer ---------------------------------------------------------------------------------
function setUpComposer() {
  const form = document.getElementById("composer");
  const input = document.getElementById("composer-input");
  let typingSince = 0;
  let idleTimer = null;
  const stopTyping = () => {
    clearTimeout(idleTimer);
    if (typingSince) send({ type: "typing", room: room.id, state: "stop" });
    typingSince = 0;
  };
  const autosize = () => {
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight, 200)}px`;
  };
  input.addEventListener("input", () => {
    autosize();
    if (!input.value.trim()) return stopTyping();
    if (Date.now() - typingSince > TYPING_RENEW_MS && send({ type: "typing", room: room.id, state: "start" })) {
      typingSince = Date.now();
    }
    clearTimeout(idleTimer);
    idleTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  const sendButton = document.getElementById("send-button");
  const uploads = new UploadTray({
    tray: document.getElementById("upload-tray"),
    errors: document.getElementById("composer-errors"),
    maxBytes: state.attachment_max_bytes,
    // Nothing half-sent: Send waits until every file is up (or cancelled).
    onChange: () => {
      sendButton.disabled = uploads.busy;
      sendButton.textContent = uploads.busy ? "Uploading…" : "Send";
    },
  });
  const fileInput = document.getElementById("attach-input");
  document.getElementById("attach-button").addEventListener("click", () => fileInput.click());
  fileInput.addEventListener("change", () => {
    uploads.add([...fileInput.files]);
    fileInput.value = "";
    input.focus();
  });
  // Pasting an image (a screenshot, say) attaches it; pasted text stays text.
  input.addEventListener("paste", (event) => {
    const files = [...(event.clipboardData?.files || [])];
    if (!files.length) return;
    event.preventDefault();
    uploads.add(files);
  });
  // Files dropped anywhere on the conversation are attached.
  const roomSection = document.getElementById("room");
  const dropHint = document.getElementById("drop-hint");
  let dragDepth = 0;
  const dragsFiles = (event) => [...(event.dataTransfer?.types || [])].includes("Files");
  roomSection.addEventListener("dragenter", (event) => {
    if (!dragsFiles(event)) return;
    dragDepth += 1;
    dropHint.hidden = false;
  });
  roomSection.addEventListener("dragover", (event) => {
    if (!dragsFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  });
  roomSection.addEventListener("dragleave", () => {
    dragDepth = Math.max(0, dragDepth - 1);
    if (!dragDepth) dropHint.hidden = true;
  });
  roomSection.addEventListener("drop", (event) => {
    if (!dragsFiles(event)) return;
    event.preventDefault();
    dragDepth = 0;
    dropHint.hidden = true;
    uploads.add([...event.dataTransfer.files]);
  });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = input.value;
    const attachments = uploads.attachments;
    if (uploads.busy || (!body.trim() && !attachments.length)) return;
    stopTyping();
    const item = { client_id: newClientId(), room: room.id, body, attachments, created_at: new Date().toISOString() };
    outbox.add(item);
    room.addPending(item);
    send(sendFrame(item));
    input.value = "";
    uploads.clear();
    autosize();
    input.focus();
    // Reading older history: the new message shows with the latest ones.
    if (room.hasNewer) window.location.assign(`/rooms/${room.id}/`);
  });
}

// --- edit and delete one's own messages -----------------------------------------------------
function setUpMessageActions() {
  document.getElementById("messages").addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    const li = button?.closest("li[data-id]");
    if (!li) return;
    try {
      if (button.dataset.action === "delete" && window.confirm("Delete this message?")) {
        await api("DELETE", `messages/${li.dataset.id}/`);
      } else if (button.dataset.action === "edit") {
        editInPlace(li);
      }
    } catch (error) {
      window.alert(error.message);
    }
  });
}

function editInPlace(li) {
  const body = li.querySelector(".msg-body");
  const editor = document.createElement("textarea");
  editor.className = "msg-editor";
  editor.value = body.textContent;
  editor.setAttribute("aria-label", "Edit message; Enter saves, Escape cancels");
  body.hidden = true;
  body.after(editor);
  editor.focus();
  const close = () => {
    editor.remove();
    body.hidden = false;
  };
  editor.addEventListener("keydown", async (event) => {
    if (event.key === "Escape") close();
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      if (editor.value.trim() && editor.value !== body.textContent) {
        room.upsert(await api("PATCH", `messages/${li.dataset.id}/`, { body: editor.value }));
      }
      close();
    }
  });
}

// --- page -----------------------------------------------------------------------------------
for (const form of document.querySelectorAll("form[data-confirm]")) {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
}
document.getElementById("reconnect-now").addEventListener("click", () => connection.reconnectNow());
setUpLightbox();
new Search();

if (state.room) {
  room = new RoomView(state.room, me, send);
  if (room.member) {
    setUpComposer();
    setUpMessageActions();
    // Typed before a reload or while offline and not sent yet: shown as pending, sent after hello.
    for (const item of [...outbox.items]) {
      if (item.room !== room.id) continue;
      if (room.hasCommitted(item.client_id)) outbox.remove(item.client_id);
      else room.addPending(item);
    }
  }
}

document.addEventListener("visibilitychange", () => {
  send({ type: "presence", status: document.visibilityState === "visible" ? "online" : "away" });
  readIfSeen();
});
if (room) room.timeline.addEventListener("scroll", () => readIfSeen(), { passive: true });

setConnectionState("connecting", "Connecting…");
connection.connect();

// Builds the DOM of messages and sidebar rows. User text only ever goes through
// textContent: it never becomes HTML. Mirrors templates/chat/_message.html and
// messaging/templatetags/chat.py, which render the first page on the server.

import { renderAttachments } from "./attachments.js";

const W = "[\\p{L}\\p{N}_]";
// Links are http(s) only; mentions follow messaging.wire.MENTION_PATTERN.
const TOKEN = new RegExp(`(https?://[^\\s<>"']+)|(?<!${W}|@)@((?:${W}|[.+-])+(?:${W}|[+-])|${W})`, "gu");
const URL_TRAILING = /[.,;:!?)\]}'"]+$/;
export const GROUP_WINDOW_MS = 5 * 60 * 1000;

export const STATUS = {
  sending: ["…", "Sending"],
  failed: ["!", "Not sent"],
  sent: ["✓", "Sent"],
  delivered: ["✓✓", "Delivered"],
  read: ["✓✓", "Read"],
};

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function renderBody(container, text, myUsername) {
  container.replaceChildren();
  let position = 0;
  for (const match of text.matchAll(TOKEN)) {
    container.append(text.slice(position, match.index));
    if (match[1]) {
      const url = match[1].replace(URL_TRAILING, "");
      const link = el("a", null, url);
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      container.append(link, match[1].slice(url.length));
    } else {
      const mine = match[2].toLowerCase() === myUsername.toLowerCase();
      container.append(el("span", mine ? "mention mention-me" : "mention", `@${match[2]}`));
    }
    position = match.index + match[0].length;
  }
  container.append(text.slice(position));
}

export function formatTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export function statusElement(status) {
  const [symbol, label] = STATUS[status] || STATUS.sent;
  const node = el("span", `msg-status status-${status}`, symbol);
  node.dataset.status = status;
  node.setAttribute("role", "img");
  node.setAttribute("aria-label", label);
  node.title = label;
  return node;
}

function actionButton(action, label) {
  const button = el("button", "link-button", label);
  button.type = "button";
  button.dataset.action = action;
  return button;
}

// `message` is the wire shape; a pending one has no id or seq yet.
export function messageElement(message, me, status) {
  const mine = message.sender && message.sender.id === me.id;
  const li = el("li", "msg");
  li.classList.toggle("mine", Boolean(mine));
  if (message.id) {
    li.id = `m-${message.id}`;
    li.dataset.id = message.id;
    li.dataset.seq = message.seq;
  } else {
    li.classList.add("pending");
  }
  li.dataset.senderId = message.sender ? message.sender.id : "";
  li.dataset.clientId = message.client_id || "";
  li.dataset.created = message.created_at;

  const head = el("div", "msg-head");
  const time = el("time", null, formatTime(message.created_at));
  time.dateTime = message.created_at;
  head.append(el("span", "msg-author", message.sender ? message.sender.display_name : "Deleted user"), " ", time);
  const body = el("div", "msg-body");
  const files = el("div", "msg-attachments");
  const meta = el("div", "msg-meta");
  li.append(head, body, files, meta);
  fillMessage(li, message, me, status);
  return li;
}

// (Re)fills body, meta and actions: used for new elements, edits and deletions.
export function fillMessage(li, message, me, status) {
  const mine = message.sender && message.sender.id === me.id;
  const body = li.querySelector(".msg-body");
  const files = li.querySelector(".msg-attachments");
  const meta = li.querySelector(".msg-meta");
  li.querySelector(".msg-actions")?.remove();
  li.classList.toggle("deleted", Boolean(message.deleted));
  meta.replaceChildren();
  if (message.deleted) {
    body.textContent = "This message was deleted.";
    renderAttachments(files, []);
    return;
  }
  renderBody(body, message.body, me.username);
  body.hidden = message.body === "" && (message.attachments || []).length > 0;
  renderAttachments(files, message.attachments);
  if (message.edited_at) meta.append(el("span", "edited", "(edited)"));
  if (mine) meta.append(statusElement(status));
  if (mine && message.id) {
    const actions = el("div", "msg-actions");
    actions.append(actionButton("edit", "Edit"), " ", actionButton("delete", "Delete"));
    li.append(actions);
  }
}

export function setStatus(li, status) {
  const current = li.querySelector(".msg-status");
  if (current && current.dataset.status !== status) current.replaceWith(statusElement(status));
}

// Same sender within a few minutes: the message shares the previous one's header.
export function regroup(li) {
  if (!li) return;
  const previous = li.previousElementSibling;
  const continued =
    previous !== null &&
    previous.dataset.senderId !== "" &&
    previous.dataset.senderId === li.dataset.senderId &&
    new Date(li.dataset.created) - new Date(previous.dataset.created) < GROUP_WINDOW_MS;
  li.classList.toggle("continued", continued);
}

export function roomTitle(room, me) {
  if (room.kind !== "direct") return room.name;
  const others = (room.members || []).filter((m) => m.id !== me.id).map((m) => m.display_name);
  return others.join(", ") || "Just you";
}

export function presenceDot(status) {
  const dot = el("span", `presence presence-${status}`);
  dot.setAttribute("role", "img");
  dot.setAttribute("aria-label", status);
  dot.title = status;
  return dot;
}

export function roomItem(room) {
  const li = el("li", "room-item");
  li.dataset.roomId = room.id;
  li.dataset.kind = room.kind;
  if (room.other_user) li.dataset.userId = room.other_user;
  const link = el("a");
  link.href = `/rooms/${room.id}/`;
  const sigil = room.kind === "direct" ? presenceDot(room.presence || "offline") : el("span", "room-sigil");
  if (room.kind === "public") sigil.textContent = "#";
  if (room.kind === "private") sigil.append(document.getElementById("icon-lock").content.cloneNode(true));
  if (room.kind !== "direct") sigil.setAttribute("aria-hidden", "true");
  const badge = el("span", "badge unread");
  badge.append(el("span", "count", "0"), el("span", "visually-hidden", " unread"));
  badge.hidden = true;
  link.append(sigil, " ", el("span", "room-name", room.title), " ", badge);
  li.append(link);
  return li;
}

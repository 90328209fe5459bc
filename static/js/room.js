// The open room: its timeline (ordered by seq, deduplicated by id, pending bubbles matched
// by client_id), older pages, statuses from receipts, the typing line, read marking.

import { api } from "./api.js";
import { fillMessage, formatTime, messageElement, regroup, setStatus } from "./render.js";

const OLDER_PAGE = 50;
const TYPING_EXPIRY_MS = 6000;
const NEAR_BOTTOM_PX = 80;

export class RoomView {
  constructor(state, me, send) {
    this.id = state.id;
    this.member = state.member;
    this.me = me;
    this.send = send;
    this.hasMore = state.has_more;
    // Opened around a search result: newer messages exist beyond this page until loaded.
    this.hasNewer = Boolean(state.has_newer);
    this.loadingNewer = false;
    this.timeline = document.getElementById("timeline");
    this.list = document.getElementById("messages");
    this.typingLine = document.getElementById("typing");
    this.markers = new Map(Object.entries(state.markers).map(([id, [d, r]]) => [Number(id), { d, r }]));
    this.typists = new Map();
    this.readSent = 0;
    this.loadingOlder = false;
    this.lastSeq = 0;
    for (const li of this.list.children) {
      const time = li.querySelector("time");
      time.textContent = formatTime(time.dateTime);
      this.lastSeq = Math.max(this.lastSeq, Number(li.dataset.seq));
    }
    this.refreshStatuses();
    if (state.focus) this.focus(state.focus);
    else this.timeline.scrollTop = this.timeline.scrollHeight;
    this.timeline.addEventListener("scroll", () => this.onScroll(), { passive: true });
    document.getElementById("load-older").addEventListener("click", () => this.loadOlder());
    document.getElementById("load-newer").addEventListener("click", () => this.loadNewer());
  }

  // Scrolls to the message with this seq (or the first after it) and marks it for a moment.
  focus(seq) {
    const target = [...this.list.querySelectorAll("li[data-seq]")].find((li) => Number(li.dataset.seq) >= seq);
    if (!target) return;
    target.classList.add("focused");
    target.scrollIntoView({ block: "center" });
    setTimeout(() => target.classList.remove("focused"), 4000);
  }

  // --- timeline ----------------------------------------------------------------------------
  nearBottom() {
    const t = this.timeline;
    return t.scrollHeight - t.scrollTop - t.clientHeight < NEAR_BOTTOM_PX;
  }

  element(id) {
    return document.getElementById(`m-${id}`);
  }

  hasCommitted(clientId) {
    return [...this.list.querySelectorAll("li[data-seq]")].some((li) => li.dataset.clientId === clientId);
  }

  pendingElement(clientId) {
    return [...this.list.querySelectorAll("li.pending")].find((li) => li.dataset.clientId === clientId) || null;
  }

  // Inserts or updates a committed message; answers whether it was new here.
  upsert(message) {
    const existing = this.element(message.id);
    if (existing) {
      fillMessage(existing, message, this.me, this.statusFor(message));
      return false;
    }
    const stick = this.nearBottom();
    const li = messageElement(message, this.me, this.statusFor(message));
    this.pendingElement(message.client_id)?.remove();
    const after = [...this.list.querySelectorAll("li[data-seq]")].find((n) => Number(n.dataset.seq) > message.seq);
    const firstPending = this.list.querySelector("li.pending");
    this.list.insertBefore(li, after || firstPending || null);
    regroup(li);
    regroup(li.nextElementSibling);
    this.lastSeq = Math.max(this.lastSeq, message.seq);
    if (message.sender) this.typingStopped(message.sender.id);
    if (stick || message.sender?.id === this.me.id) this.scrollToBottom();
    return true;
  }

  addPending(item) {
    if (this.pendingElement(item.client_id)) return;
    const message = { ...item, sender: this.me, id: null, seq: null };
    const li = messageElement(message, this.me, item.failed ? "failed" : "sending");
    this.list.append(li);
    regroup(li);
    this.scrollToBottom();
  }

  markFailed(clientId, detail) {
    const li = this.pendingElement(clientId);
    if (!li) return;
    setStatus(li, "failed");
    li.classList.add("failed");
    li.querySelector(".msg-meta").append(` ${detail}`);
  }

  removed(message) {
    const li = this.element(message.id);
    if (li) fillMessage(li, { ...message, deleted: true }, this.me, "sent");
  }

  scrollToBottom() {
    this.timeline.scrollTop = this.timeline.scrollHeight;
  }

  onScroll() {
    if (this.timeline.scrollTop < NEAR_BOTTOM_PX) this.loadOlder();
    if (this.hasNewer && this.nearBottom()) this.loadNewer();
  }

  async loadNewer() {
    if (this.loadingNewer || !this.hasNewer) return;
    this.loadingNewer = true;
    try {
      const page = await api("GET", `rooms/${this.id}/messages/?after=${this.lastSeq}&limit=${OLDER_PAGE}`);
      for (const message of page.results) {
        if (this.element(message.id)) continue;
        const li = messageElement(message, this.me, this.statusFor(message));
        this.list.insertBefore(li, this.list.querySelector("li.pending"));
        regroup(li);
        this.lastSeq = Math.max(this.lastSeq, message.seq);
      }
      this.hasNewer = page.has_more;
      document.getElementById("load-newer").hidden = !this.hasNewer;
      document.getElementById("jump-latest").hidden = !this.hasNewer;
    } finally {
      this.loadingNewer = false;
    }
  }

  async loadOlder() {
    if (this.loadingOlder || !this.hasMore) return;
    const first = this.list.querySelector("li[data-seq]");
    if (!first) return;
    this.loadingOlder = true;
    try {
      const page = await api("GET", `rooms/${this.id}/messages/?before=${first.dataset.seq}&limit=${OLDER_PAGE}`);
      const height = this.timeline.scrollHeight;
      const top = this.timeline.scrollTop;
      for (const message of page.results.reverse()) {
        if (this.element(message.id)) continue;
        const li = messageElement(message, this.me, this.statusFor(message));
        this.list.prepend(li);
        regroup(li.nextElementSibling);
        regroup(li);
      }
      this.timeline.scrollTop = top + (this.timeline.scrollHeight - height);
      this.hasMore = page.has_more;
      document.getElementById("load-older").hidden = !this.hasMore;
      document.getElementById("timeline-start").hidden = this.hasMore;
    } finally {
      this.loadingOlder = false;
    }
  }

  // --- read marking ------------------------------------------------------------------------
  // Read means seen: the tab is visible and the newest messages are on screen.
  markRead() {
    if (!this.member || this.hasNewer || document.visibilityState !== "visible" || !this.nearBottom()) return false;
    if (this.lastSeq <= this.readSent) return false;
    if (this.send({ type: "read", room: this.id, up_to: this.lastSeq })) {
      this.readSent = this.lastSeq;
      return true;
    }
    return false;
  }

  // --- statuses ------------------------------------------------------------------------------
  // A message's status for its sender is the lowest state among the other members.
  statusFor(message) {
    if (!message.sender || message.sender.id !== this.me.id) return message.status;
    let status = "read";
    let others = 0;
    for (const [userId, marker] of this.markers) {
      if (userId === this.me.id) continue;
      others += 1;
      if (marker.r >= message.seq) continue;
      if (marker.d >= message.seq) status = "delivered";
      else return "sent";
    }
    return others ? status : "sent";
  }

  receipt(frame) {
    const marker = this.markers.get(frame.user) || { d: 0, r: 0 };
    marker.d = Math.max(marker.d, frame.up_to);
    if (frame.status === "read") marker.r = Math.max(marker.r, frame.up_to);
    this.markers.set(frame.user, marker);
    this.refreshStatuses();
  }

  refreshStatuses() {
    for (const li of this.list.querySelectorAll(`li.mine[data-seq]:not(.deleted)`)) {
      setStatus(li, this.statusFor({ sender: this.me, seq: Number(li.dataset.seq) }));
    }
  }

  // Members came or went: take everyone's state from the receipts of our newest message.
  async membersChanged(memberCount) {
    const counter = document.getElementById("member-count");
    if (counter && memberCount !== undefined) counter.textContent = memberCount;
    const mine = [...this.list.querySelectorAll("li.mine[data-seq]")].pop();
    if (!mine || memberCount === this.markers.size) return;
    const seq = Number(mine.dataset.seq);
    const receipts = await api("GET", `messages/${mine.dataset.id}/receipts/`);
    const current = new Set([this.me.id]);
    for (const { user, status } of receipts) {
      current.add(user.id);
      if (this.markers.has(user.id)) continue;
      this.markers.set(user.id, { d: status === "sent" ? 0 : seq, r: status === "read" ? seq : 0 });
    }
    for (const userId of [...this.markers.keys()]) if (!current.has(userId)) this.markers.delete(userId);
    this.refreshStatuses();
  }

  // --- typing ----------------------------------------------------------------------------------
  typing(frame) {
    const user = frame.user;
    clearTimeout(this.typists.get(user.id)?.timer);
    if (frame.state === "start") {
      const timer = setTimeout(() => this.typingStopped(user.id), TYPING_EXPIRY_MS);
      this.typists.set(user.id, { name: user.display_name, timer });
    } else {
      this.typists.delete(user.id);
    }
    this.renderTyping();
  }

  typingStopped(userId) {
    const typist = this.typists.get(userId);
    if (!typist) return;
    clearTimeout(typist.timer);
    this.typists.delete(userId);
    this.renderTyping();
  }

  renderTyping() {
    const names = [...this.typists.values()].map((t) => t.name);
    let text = "";
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
    else if (names.length > 2) text = "Several people are typing…";
    this.typingLine.textContent = text;
  }
}

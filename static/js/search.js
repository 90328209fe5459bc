// The search box in the top bar: results with highlighted snippets, more on demand, and a
// click that opens the conversation scrolled to the message (`/rooms/<id>/?around=<seq>`).

import { api } from "./api.js";
import { formatTime } from "./render.js";

const PAGE = 20;

// The server's snippet is HTML-escaped text with <mark> around matches. Anything else that
// might be in it becomes text here too: only <mark> elements survive.
function snippetNodes(snippet) {
  const template = document.createElement("template");
  template.innerHTML = snippet;
  for (const node of [...template.content.querySelectorAll("*")]) {
    if (node.tagName !== "MARK" || node.attributes.length) node.replaceWith(document.createTextNode(node.textContent));
  }
  return template.content;
}

export class Search {
  constructor() {
    this.form = document.getElementById("search-form");
    if (!this.form) return;
    this.input = document.getElementById("search-input");
    this.panel = document.getElementById("search-panel");
    this.list = document.getElementById("search-results");
    this.empty = document.getElementById("search-empty");
    this.more = document.getElementById("search-more");
    const state = JSON.parse(document.getElementById("chat-state").textContent);
    this.rooms = new Map(state.rooms.map((r) => [r.id, r.kind === "direct" ? r.title : `#${r.title}`]));
    this.cursor = null;
    this.query = "";
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.run(this.input.value.trim());
    });
    this.more.addEventListener("click", () => this.page());
    document.getElementById("search-close").addEventListener("click", () => this.close());
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !this.panel.hidden) this.close();
    });
  }

  close() {
    this.panel.hidden = true;
  }

  async run(query) {
    if (!query) return this.close();
    this.query = query;
    this.cursor = null;
    this.list.replaceChildren();
    this.panel.hidden = false;
    await this.page();
  }

  async page() {
    const params = new URLSearchParams({ q: this.query, limit: PAGE });
    if (this.cursor) params.set("cursor", this.cursor);
    let found;
    try {
      found = await api("GET", `search/messages/?${params}`);
    } catch (error) {
      this.empty.textContent = error.message;
      this.empty.hidden = false;
      return;
    }
    for (const result of found.results) this.list.append(this.item(result));
    this.cursor = found.next_cursor;
    this.more.hidden = !found.has_more;
    this.empty.textContent = "No messages found.";
    this.empty.hidden = this.list.children.length > 0;
  }

  item({ message, room, snippet }) {
    const li = document.createElement("li");
    const link = document.createElement("a");
    link.href = `/rooms/${room}/?around=${message.seq}`;
    link.className = "search-result";
    const head = document.createElement("span");
    head.className = "search-where";
    const author = message.sender ? message.sender.display_name : "Deleted user";
    head.textContent = `${this.rooms.get(room) || "a room"} · ${author} · ${formatTime(message.created_at)}`;
    const text = document.createElement("span");
    text.className = "search-snippet";
    text.append(snippetNodes(snippet));
    link.append(head, text);
    li.append(link);
    return li;
  }
}

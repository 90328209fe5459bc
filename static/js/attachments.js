// Files in messages: how they are shown (images inline as thumbnails, other files as a
// card) and how the composer uploads them (one XMLHttpRequest per file, for its progress
// bar and its cancel button). Mirrors templates/chat/_attachments.html.

const RASTER = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);
const UNITS = ["bytes", "KiB", "MiB", "GiB"];

export function humanSize(size) {
  let value = size;
  for (const unit of UNITS) {
    if (value < 1024 || unit === "GiB") return unit === "bytes" ? `${value} bytes` : `${value.toFixed(1)} ${unit}`;
    value /= 1024;
  }
  return `${size} bytes`;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function imageElement(attachment) {
  const link = el("a", "attachment attachment-image");
  link.href = attachment.url;
  link.dataset.full = attachment.url;
  link.dataset.name = attachment.name;
  link.setAttribute("aria-label", `Open ${attachment.name} full size`);
  if (attachment.thumbnail_url) {
    const img = el("img");
    img.src = attachment.thumbnail_url;
    img.alt = attachment.name;
    img.loading = "lazy";
    if (attachment.width && attachment.height) {
      // The thumbnail's box before it loads, so the timeline does not jump.
      const scale = Math.min(1, 400 / Math.max(attachment.width, attachment.height));
      img.width = Math.round(attachment.width * scale);
      img.height = Math.round(attachment.height * scale);
    }
    link.append(img);
  } else {
    link.classList.add("preparing");
    link.append(el("span", "attachment-name", attachment.name), el("span", "muted", " · preview on its way"));
  }
  return link;
}

function cardElement(attachment) {
  const card = el("a", "attachment attachment-card");
  card.href = attachment.url;
  card.setAttribute("download", attachment.name);
  card.append(
    el("span", "attachment-name", attachment.name),
    el("span", "attachment-meta", `${attachment.content_type} · ${humanSize(attachment.size)}`),
  );
  return card;
}

export function renderAttachments(container, attachments) {
  container.replaceChildren();
  container.hidden = !attachments || attachments.length === 0;
  for (const attachment of attachments || []) {
    container.append(RASTER.has(attachment.content_type) ? imageElement(attachment) : cardElement(attachment));
  }
}

// --- the full-size view -------------------------------------------------------------------------
export function setUpLightbox() {
  const dialog = document.getElementById("lightbox");
  if (!dialog) return;
  const image = dialog.querySelector("img");
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a.attachment-image");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    image.src = link.dataset.full;
    image.alt = link.dataset.name;
    dialog.querySelector(".lightbox-name").textContent = link.dataset.name;
    dialog.querySelector(".lightbox-open").href = link.dataset.full;
    dialog.showModal();
  });
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog || event.target.closest("[data-close]")) dialog.close();
  });
  dialog.addEventListener("close", () => image.removeAttribute("src"));
}

// --- uploads from the composer ------------------------------------------------------------------
function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

// One file on its way up: a row in the tray with a progress bar and a cancel button.
class Upload {
  constructor(file, tray, onChange) {
    this.file = file;
    this.state = "uploading"; // uploading -> done | failed | cancelled
    this.attachment = null;
    this.onChange = onChange;
    this.row = el("li", "upload");
    this.row.dataset.state = this.state;
    const name = file.name || "pasted image";
    this.progress = el("progress");
    this.progress.max = 100;
    this.progress.value = 0;
    this.progress.setAttribute("aria-label", `Uploading ${name}`);
    this.cancelButton = el("button", "link-button", "Cancel");
    this.cancelButton.type = "button";
    this.cancelButton.setAttribute("aria-label", `Cancel ${name}`);
    this.cancelButton.addEventListener("click", () => this.cancel());
    this.row.append(el("span", "upload-name", name), el("span", "upload-size muted", humanSize(file.size)));
    this.row.append(this.progress, this.cancelButton);
    tray.append(this.row);
    this.start(name);
  }

  start(name) {
    const form = new FormData();
    form.append("file", this.file, name);
    const xhr = (this.xhr = new XMLHttpRequest());
    xhr.open("POST", "/api/v1/attachments/");
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) this.progress.value = Math.round((100 * event.loaded) / event.total);
    });
    xhr.addEventListener("load", () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      if (xhr.status === 201 && body) {
        this.attachment = body;
        this.progress.value = 100;
        this.finish("done");
      } else {
        this.fail((body && (body.detail || (body.file && body.file[0]))) || `Upload failed (${xhr.status}).`);
      }
    });
    xhr.addEventListener("error", () => this.fail("The upload was interrupted."));
    xhr.send(form);
  }

  cancel() {
    if (this.state === "uploading") this.xhr.abort();
    this.finish("cancelled");
  }

  fail(detail) {
    this.error = `${this.file.name || "pasted image"}: ${detail}`;
    this.finish("failed");
  }

  finish(state) {
    this.state = state;
    this.row.dataset.state = state;
    if (state === "done") {
      this.cancelButton.textContent = "Remove";
      this.cancelButton.setAttribute("aria-label", `Remove ${this.attachment.name}`);
    }
    if (state === "failed" || state === "cancelled") this.row.remove();
    this.onChange(this);
  }
}

// The files waiting to go with the next message. A message goes only with every upload
// finished: nothing is sent half-attached.
export class UploadTray {
  constructor({ tray, errors, onChange, maxBytes }) {
    this.tray = tray;
    this.errors = errors;
    this.maxBytes = maxBytes;
    this.uploads = [];
    this.onChange = onChange;
  }

  add(files) {
    this.errors.replaceChildren();
    for (const file of files) {
      // The server refuses these too; saying so before uploading saves the wait.
      const name = file.name || "pasted image";
      if (this.maxBytes && file.size > this.maxBytes) {
        this.errors.append(
          el("p", "upload-error", `${name}: The file is larger than the limit of ${humanSize(this.maxBytes)}.`),
        );
        continue;
      }
      if (file.size === 0) {
        this.errors.append(el("p", "upload-error", `${name}: The file is empty.`));
        continue;
      }
      this.uploads.push(
        new Upload(file, this.tray, (upload) => {
          if (upload.state === "failed") this.errors.append(el("p", "upload-error", upload.error));
          if (upload.state === "failed" || upload.state === "cancelled") {
            this.uploads = this.uploads.filter((u) => u !== upload);
          }
          this.onChange();
        }),
      );
    }
    this.onChange();
  }

  get busy() {
    return this.uploads.some((u) => u.state === "uploading");
  }

  get attachments() {
    return this.uploads.filter((u) => u.state === "done").map((u) => u.attachment);
  }

  clear() {
    for (const upload of this.uploads) upload.row.remove();
    this.uploads = [];
    this.onChange();
  }
}

"""Template filters of the chat page. static/js/render.js builds the same markup for live messages."""

import re

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from messaging.wire import MENTION_PATTERN

register = template.Library()

# Links are http(s) only, never javascript: and friends; mentions by the one rule in messaging.wire.
TOKEN = re.compile(r"(?P<url>https?://[^\s<>\"']+)|" + MENTION_PATTERN, re.UNICODE)
URL_TRAILING = ".,;:!?)]}'\""

STATUS_LABELS = {"sent": ("✓", "Sent"), "delivered": ("✓✓", "Delivered"), "read": ("✓✓", "Read")}


def _split_url(url: str) -> tuple[str, str]:
    """A link ends before trailing punctuation: "see https://x.org." links https://x.org."""
    stripped = url.rstrip(URL_TRAILING)
    return stripped, url[len(stripped) :]


@register.filter
def message_body(body: str, username: str = "") -> SafeString:
    """Escapes the text, makes http(s) links clickable and highlights @mentions."""
    parts, position, me = [], 0, (username or "").lower()
    for match in TOKEN.finditer(body):
        parts.append(format_html("{}", body[position : match.start()]))
        if match.group("url"):
            url, rest = _split_url(match.group("url"))
            parts.append(format_html('<a href="{0}" target="_blank" rel="noopener noreferrer">{0}</a>{1}', url, rest))
        else:
            name = match.group("name")
            css = "mention mention-me" if name.lower() == me else "mention"
            parts.append(format_html('<span class="{}">@{}</span>', css, name))
        position = match.end()
    parts.append(format_html("{}", body[position:]))
    return mark_safe("".join(parts))


@register.simple_tag
def message_status(status: str) -> SafeString:
    symbol, label = STATUS_LABELS.get(status, STATUS_LABELS["sent"])
    return format_html(
        '<span class="msg-status status-{0}" data-status="{0}" role="img" aria-label="{1}" title="{1}">{2}</span>',
        status,
        label,
        symbol,
    )


RASTER_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}


@register.filter
def is_raster(content_type: str) -> bool:
    return content_type in RASTER_TYPES


@register.filter
def thumb_box(attachment: dict) -> str:
    """`width="…" height="…"` of a thumbnail at most 400 px on its longer side (as render.js)."""
    width, height = attachment.get("width"), attachment.get("height")
    if not width or not height:
        return ""
    scale = min(1, 400 / max(width, height))
    return format_html('width="{}" height="{}"', round(width * scale), round(height * scale))


@register.filter
def human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"

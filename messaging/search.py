"""Message search: matches in the caller's rooms, best first, with a highlighted snippet.

PostgreSQL ranks with full-text search (a GIN index on the body's tsvector, 'simple'
configuration so every language's words match as typed). Other databases (the
embedded SQLite) fall back to a case-insensitive substring match, newest first.
"""

import html
import re

from django.db import connection
from django.db.models import F, Q

from accounts.models import User
from chatproject import ratelimits
from chatproject.errors import FieldErrors
from messaging.models import Message
from messaging.wire import message_data

SEARCH_LIMIT = 50
SNIPPET_CHARS = 160
QUERY_MAX = 200


def _terms(q: str) -> list[str]:
    return [t for t in re.findall(r"\w+", q, flags=re.UNICODE) if t][:10]


def highlight(body: str, terms: list[str], width: int = SNIPPET_CHARS) -> str:
    """HTML-escaped text around the first match, each match wrapped in <mark>…</mark>."""
    if not terms:
        return html.escape(body[:width])
    pattern = re.compile("|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)), re.IGNORECASE)
    first = pattern.search(body)
    start = max(0, (first.start() if first else 0) - width // 3)
    window = body[start : start + width]
    pieces, last = [], 0
    for match in pattern.finditer(window):
        pieces.append(html.escape(window[last : match.start()]))
        pieces.append(f"<mark>{html.escape(match.group())}</mark>")
        last = match.end()
    pieces.append(html.escape(window[last:]))
    prefix = "…" if start > 0 else ""
    suffix = "…" if start + width < len(body) else ""
    return prefix + "".join(pieces) + suffix


def message_search(*, user: User, q: str, room_id: int | None = None, limit: int = SEARCH_LIMIT) -> list[dict]:
    """Messages of rooms the user belongs to matching `q`; deleted messages never match."""
    from rooms.selectors import room_ids_for_user

    q = (q or "").strip()
    if not q:
        raise FieldErrors({"q": ["Give something to search for."]})
    if len(q) > QUERY_MAX:
        raise FieldErrors({"q": [f"At most {QUERY_MAX} characters."]})
    ratelimits.enforce("search", user.pk)
    terms = _terms(q)
    if not terms:
        return []
    room_ids = [rid for rid, _, _ in room_ids_for_user(user_id=user.pk)]
    if room_id is not None:
        room_ids = [rid for rid in room_ids if rid == room_id]
    messages = Message.objects.for_wire().filter(room_id__in=room_ids, deleted=False)
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector

        vector = SearchVector("body", config="simple")
        query = SearchQuery(" & ".join(f"{t}:*" for t in terms), config="simple", search_type="raw")
        found = (
            messages.annotate(rank=SearchRank(vector, query))
            .filter(rank__gt=0)
            .order_by(F("rank").desc(), "-id")[:limit]
        )
    else:
        condition = Q()
        for term in terms:
            condition &= Q(body__icontains=term)
        found = messages.filter(condition).order_by("-id")[:limit]
    return [{"message": message_data(m), "room": m.room_id, "snippet": highlight(m.body, terms)} for m in found]

"""Message search: matches in the caller's rooms, best first, with a highlighted snippet.

PostgreSQL: the filter is `to_tsvector('simple'::regconfig, body) @@ query`, exactly the
expression the GIN index of migration 0002 is built on, so the planner reads the index
instead of every message of the caller's rooms; only the matches are ranked. ('simple'
configuration: every language's words match as typed, prefixes too.) Other databases
(the embedded SQLite) fall back to a case-insensitive substring match, newest first.

Pages: results are ordered by (rank desc, id desc); `next_cursor` names the last result
of a page, and the next page starts strictly after it in that order.
"""

import html
import re
from dataclasses import dataclass

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVectorField
from django.db import connection
from django.db.models import F, FloatField, Func, Q, QuerySet, Value
from django.db.models.functions import Cast

from accounts.models import User
from chatproject.errors import FieldErrors
from messaging.events import message_data
from messaging.models import Message

SEARCH_DEFAULT_LIMIT = 20
SEARCH_MAX_LIMIT = 50
SNIPPET_CHARS = 160
QUERY_MAX = 200
MAX_TERMS = 10


class SimpleVector(Func):
    """`to_tsvector('simple'::regconfig, <text>)`, written out literally.

    Django's SearchVector wraps the column in COALESCE(...), which no longer matches the
    indexed expression and so cannot use the index; this renders the very expression of
    the index (the column is NOT NULL, so COALESCE buys nothing).
    """

    template = "to_tsvector('simple'::regconfig, %(expressions)s)"
    output_field = SearchVectorField()


@dataclass(frozen=True)
class Cursor:
    rank: float
    id: int

    def encode(self) -> str:
        return f"{self.rank!r}_{self.id}"

    @classmethod
    def decode(cls, value: str | None) -> "Cursor | None":
        if value in (None, ""):
            return None
        try:
            rank, _, ident = value.partition("_")
            cursor = cls(float(rank), int(ident))
        except ValueError:
            raise FieldErrors({"cursor": ["Not a cursor from a previous page."]}) from None
        if cursor.rank != cursor.rank or cursor.rank < 0 or cursor.id < 1:  # NaN, negative
            raise FieldErrors({"cursor": ["Not a cursor from a previous page."]})
        return cursor


def _terms(q: str) -> list[str]:
    return [t for t in re.findall(r"\w+", q, flags=re.UNICODE) if t][:MAX_TERMS]


def _limit(value) -> int:
    if value in (None, ""):
        return SEARCH_DEFAULT_LIMIT
    try:
        limit = int(value)
    except (TypeError, ValueError):
        raise FieldErrors({"limit": ["Must be a whole number."]}) from None
    if not 1 <= limit <= SEARCH_MAX_LIMIT:
        raise FieldErrors({"limit": [f"Must be between 1 and {SEARCH_MAX_LIMIT}."]})
    return limit


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


def tsquery(terms: list[str]) -> SearchQuery:
    # Terms are \w+ runs, so nothing in them is tsquery syntax; each matches as a prefix.
    return SearchQuery(" & ".join(f"{t}:*" for t in terms), config="simple", search_type="raw")


def matching_messages(*, room_ids: list[int], terms: list[str]) -> QuerySet[Message]:
    """Undeleted messages of these rooms matching every term, annotated with `rank`, best first.

    Trusts the caller to have limited `room_ids` to rooms the user may read.
    """
    messages = Message.objects.for_wire().filter(room_id__in=room_ids, deleted=False)
    if connection.vendor == "postgresql":
        query = tsquery(terms)
        vector = SimpleVector(F("body"))
        # The @@ filter is what the GIN index answers; ts_rank runs on the matches only. It is a
        # float4: as float8 it reaches Python exactly, so a cursor compares equal to its row again.
        return (
            messages.alias(document=vector)
            .filter(document=query)
            .annotate(rank=Cast(SearchRank(vector, query), FloatField()))
            .order_by(F("rank").desc(), F("id").desc())
        )
    condition = Q()
    for term in terms:
        condition &= Q(body__icontains=term)
    return messages.filter(condition).annotate(rank=Value(0.0, output_field=FloatField())).order_by("-id")


def message_search(*, user: User, q: str, room_id: int | None = None, cursor: str | None = None, limit=None) -> dict:
    """A page of messages of the user's rooms matching `q`: `{results, has_more, next_cursor}`.

    Deleted messages never match; rooms the user does not belong to are never read.
    """
    from rooms.selectors import room_ids_for_user

    q = (q or "").strip()
    if not q:
        raise FieldErrors({"q": ["Give something to search for."]})
    if len(q) > QUERY_MAX:
        raise FieldErrors({"q": [f"At most {QUERY_MAX} characters."]})
    after, limit = Cursor.decode(cursor), _limit(limit)
    terms = _terms(q)
    if not terms:
        return {"results": [], "has_more": False, "next_cursor": None}
    room_ids = [rid for rid, _, _ in room_ids_for_user(user_id=user.pk)]
    if room_id is not None:
        room_ids = [rid for rid in room_ids if rid == room_id]
    if not room_ids:
        return {"results": [], "has_more": False, "next_cursor": None}
    found = matching_messages(room_ids=room_ids, terms=terms)
    if after is not None:
        found = found.filter(Q(rank__lt=after.rank) | Q(rank=after.rank, id__lt=after.id))
    page = list(found[: limit + 1])
    has_more = len(page) > limit
    page = page[:limit]
    return {
        "results": [{"message": message_data(m), "room": m.room_id, "snippet": highlight(m.body, terms)} for m in page],
        "has_more": has_more,
        "next_cursor": Cursor(page[-1].rank, page[-1].pk).encode() if has_more else None,
    }

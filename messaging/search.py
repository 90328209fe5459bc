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
from chatproject import ratelimits
from chatproject.errors import FieldErrors
from messaging.models import Attachment, Message
from messaging.wire import message_data

SEARCH_DEFAULT_LIMIT = 20
SEARCH_MAX_LIMIT = 50
SNIPPET_CHARS = 160
QUERY_MAX = 200
MAX_TERMS = 10
# Files whose names match count up to this many (the newest): a bound on the id list.
NAME_MATCHES_MAX = 1000


class SimpleVector(Func):
    """`to_tsvector('simple'::regconfig, <text>)`, written out literally.

    Django's SearchVector wraps the column in COALESCE(...), which no longer matches the
    indexed expression and so cannot use the index; this renders the very expression of
    the index (the column is NOT NULL, so COALESCE buys nothing).
    """

    template = "to_tsvector('simple'::regconfig, %(expressions)s)"
    output_field = SearchVectorField()


class NameVector(Func):
    """A file name's words, as migration 0004's GIN index has them: "Q3-report.pdf" -> q3, report, pdf."""

    template = "to_tsvector('simple'::regconfig, translate(%(expressions)s, '._-', '   '))"
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
    pattern = _pattern(terms)
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


def _pattern(terms: list[str]) -> re.Pattern:
    return re.compile("|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)), re.IGNORECASE)


def snippet(data: dict, terms: list[str]) -> str:
    """The highlighted body, or, for a message found by a file name, that file's name."""
    pattern = _pattern(terms)
    if not pattern.search(data["body"]):
        for attachment in data["attachments"]:
            if pattern.search(attachment["name"]):
                return highlight(attachment["name"], terms)
    return highlight(data["body"], terms)


def tsquery(terms: list[str]) -> SearchQuery:
    # Terms are \w+ runs, so nothing in them is tsquery syntax; each matches as a prefix.
    return SearchQuery(" & ".join(f"{t}:*" for t in terms), config="simple", search_type="raw")


def messages_with_files_named(terms: list[str]) -> QuerySet:
    """Ids of messages (any room, newest first) with a shown file whose name matches every term."""
    return (
        Attachment.objects.alias(document=NameVector(F("name")))
        .filter(document=tsquery(terms), message__isnull=False, removed_at__isnull=True)
        .order_by("-message_id")
        .values_list("message_id", flat=True)
    )


def matching_messages(*, room_ids: list[int], terms: list[str]) -> QuerySet[Message]:
    """Undeleted messages of these rooms whose body, or a file name, matches every term; best first.

    Annotated with `rank`. Trusts the caller to have limited `room_ids` to rooms the user may read.
    """
    messages = Message.objects.for_wire().filter(room_id__in=room_ids, deleted=False)
    if connection.vendor == "postgresql":
        query = tsquery(terms)
        vector = SimpleVector(F("body"))
        # Messages with a file of that name: their ids first (the file-name GIN index), so
        # the message query is one BitmapOr of the body GIN index and the primary key, with
        # no join for the planner to misjudge into a scan of every message.
        by_name = list(messages_with_files_named(terms)[:NAME_MATCHES_MAX])
        # ts_rank runs on the matches only; a match by file name alone ranks after body
        # matches. The float4 rank is made float8 so it reaches Python exactly: a cursor
        # then compares equal to its own row again.
        return (
            messages.alias(document=vector)
            .filter(Q(document=query) | Q(id__in=by_name))
            .annotate(rank=Cast(SearchRank(vector, query), FloatField()))
            .order_by(F("rank").desc(), F("id").desc())
        )
    condition = Q()
    name_condition = Q(message__isnull=False, removed_at__isnull=True)
    for term in terms:
        condition &= Q(body__icontains=term)
        name_condition &= Q(name__icontains=term)
    by_name = Attachment.objects.filter(name_condition).values("message_id")
    return (
        messages.filter(condition | Q(id__in=by_name))
        .annotate(rank=Value(0.0, output_field=FloatField()))
        .order_by("-id")
    )


def message_search(*, user: User, q: str, room_id: int | None = None, cursor: str | None = None, limit=None) -> dict:
    """A page of messages of the user's rooms matching `q`: `{results, has_more, next_cursor}`.

    Deleted messages never match; rooms the user does not belong to are never read.
    """
    from rooms.selectors import room_ids_for_user

    q = (q or "").replace("\x00", "").strip()  # no stored text holds NUL, and PostgreSQL refuses it
    if not q:
        raise FieldErrors({"q": ["Give something to search for."]})
    if len(q) > QUERY_MAX:
        raise FieldErrors({"q": [f"At most {QUERY_MAX} characters."]})
    after, limit = Cursor.decode(cursor), _limit(limit)
    ratelimits.enforce("search", user.pk)
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
    shown = [message_data(m) for m in page]
    return {
        "results": [{"message": data, "room": data["room"], "snippet": snippet(data, terms)} for data in shown],
        "has_more": has_more,
        "next_cursor": Cursor(page[-1].rank, page[-1].pk).encode() if has_more else None,
    }

"""The one validator of ids and seqs that reach the server, used by every door.

Ids and seqs are PostgreSQL `bigint`s (SQLite `INTEGER`): 1 to 2**63 - 1. A bigger number
names nothing that can exist, so it is answered like any other unknown id (404 /
`not_found`, or a field error where the number is a body field), before any query: SQLite
cannot even bind it (OverflowError), and PostgreSQL only happens to cope. Doors call
these helpers; services may then trust that an id fits the column.
"""

from typing import Any

from django.urls import register_converter
from rest_framework import serializers

from chatproject.errors import FieldErrors, NotFound

MAX_ID = 2**63 - 1


def fits(value: int) -> bool:
    return 0 <= value <= MAX_ID


def int_value(value: Any, *, field: str, minimum: int = 0, required: bool = True) -> int | None:
    """A frame's whole number (an id, a seq, a limit): a JSON integer, never a bool, float or text."""
    if value is None:
        if required:
            raise FieldErrors({field: ["This field is required."]})
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= MAX_ID:
        raise FieldErrors({field: [f"Must be a whole number from {minimum} to {MAX_ID}."]})
    return value


def int_param(text: str | None, *, field: str, minimum: int = 0, required: bool = True) -> int | None:
    """A query string's or form's whole number, given as decimal digits; FieldErrors otherwise."""
    if text is None or not str(text).strip():
        return int_value(None, field=field, minimum=minimum, required=required)
    text = str(text).strip()
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        raise FieldErrors({field: [f"Must be a whole number from {minimum} to {MAX_ID}."]})
    return int_value(int(text), field=field, minimum=minimum, required=required)


def id_list(raw: str, *, field: str, limit: int) -> list[int]:
    """`1,2,3` (a query string's ids), sorted and deduplicated; FieldErrors when malformed."""
    parts = [part.strip() for part in raw.split(",") if part.strip()]
    if not parts or len(parts) > limit:
        raise FieldErrors({field: [f"Between 1 and {limit} comma-separated ids."]})
    return sorted({int_param(part, field=field, minimum=1) for part in parts})


def require_fits(value: int, *, what: str = "Not found.") -> int:
    """For ids taken from a URL by hand: an id past the column's range names nothing."""
    if not fits(value):
        raise NotFound(what)
    return value


class IdConverter:
    """`<id:room_id>` in URLs: digits that fit a bigint. Anything bigger matches no URL (404)."""

    regex = "[0-9]{1,20}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_ID:
            raise ValueError("id out of range")  # Django answers 404: no such URL
        return number

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "id")


class IdField(serializers.IntegerField):
    """A body field holding an id: 1 to 2**63 - 1 (documented as such in the schema)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)


class SeqField(serializers.IntegerField):
    """A body field holding a seq (a marker's `up_to`): 0 to 2**63 - 1."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)

"""The chat pages: `/` and `/rooms/<id>/`. Server-rendered first, then live through static/js/chat.js."""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from chatproject.composition.layout import layout_context, room_title
from chatproject.errors import FieldErrors, NotFound
from chatproject.wire import parse_wire_time
from messaging.selectors import message_history, message_history_around
from rooms.selectors import membership_get, room_get_visible, room_members
from rooms.wire import room_data

# Messages of one sender this close together share one header, as in most chat apps.
GROUP_WINDOW = timedelta(minutes=5)


def _grouped(messages: list[dict]) -> list[dict]:
    """The wire messages with `created` (a datetime) and `continued` (same sender, shortly after)."""
    shown, previous = [], None
    for message in messages:
        created = parse_wire_time(message["created_at"])
        continued = (
            previous is not None
            and message["sender"] is not None
            and previous["sender"] is not None
            and previous["sender"]["id"] == message["sender"]["id"]
            and created - previous["created"] < GROUP_WINDOW
        )
        previous = {**message, "created": created, "continued": continued}
        shown.append(previous)
    return shown


@login_required
@require_GET
def chat_home(request):
    context = layout_context(user=request.user)
    return render(request, "chat/home.html", {**context, "page_state": context["layout_state"]})


@login_required
@require_GET
def room_page(request, room_id: int):
    around, has_newer = request.GET.get("around"), False
    try:
        room = room_get_visible(user=request.user, room_id=room_id)
        if around:
            # A search result opened in its context: the page around it, scrolled to it.
            messages, has_more, has_newer = message_history_around(user=request.user, room_id=room.pk, around=around)
        else:
            messages, has_more = message_history(user=request.user, room_id=room.pk)
    except NotFound:
        raise Http404("Room not found.") from None
    except FieldErrors:
        return redirect("room", room_id=room_id)
    membership = membership_get(user=request.user, room_id=room.pk)
    members = list(room_members(room=room))
    data = room_data(room, members=[m.user for m in members] if room.is_direct else None)
    context = layout_context(user=request.user, current_room_id=room.pk)
    room_state = {
        "id": room.pk,
        "kind": room.kind,
        "title": room_title(data, viewer_id=request.user.pk),
        "member": membership is not None,
        "role": membership.role if membership else None,
        "last_seq": room.last_seq,
        "has_more": has_more,
        "has_newer": has_newer,
        "focus": int(around) if around else None,
        # Everyone's markers, so the page can work out its own messages' status from receipts.
        "markers": {m.user_id: [m.delivered_seq, m.read_seq] for m in members},
    }
    return render(
        request,
        "chat/room.html",
        {
            **context,
            "room": room,
            "room_state": room_state,
            "membership": membership,
            "member_count": len(members),
            "history": _grouped(messages),
            "has_more": has_more,
            "has_newer": has_newer,
            "page_state": {
                **context["layout_state"],
                "room": room_state,
                "max_length": settings.MESSAGE_MAX_LENGTH,
                "attachment_max_bytes": settings.ATTACHMENT_MAX_BYTES,
            },
        },
    )

"""Room pages of the web UI: create, browse and join, members, leave, the people directory.

Here rather than in `rooms` because every page shows the layout (rooms, messages and
notifications together) and the people directory shows presence. Thin doors: each
parses a form, calls rooms.services and redirects (post/redirect/get); domain errors
become a flash message, or a 404 for what the user may not see.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.selectors import user_directory
from chatproject.composition.layout import layout_context
from chatproject.errors import DomainError, FieldErrors, NotFound, Throttled
from chatproject.ids import int_param
from notifications.presence import presence_statuses
from rooms import selectors, services
from rooms.forms import RoomCreateForm

SEARCH_LIMIT = 50


def _page(request, template: str, context: dict, *, current_room_id: int | None = None):
    layout = layout_context(user=request.user, current_room_id=current_room_id)
    return render(request, template, {**layout, "page_state": layout["layout_state"], **context})


def _refused(request, exc: DomainError, fallback: str, **kwargs):
    if isinstance(exc, NotFound):
        raise Http404(exc.detail)
    messages.error(request, exc.detail)
    return redirect(fallback, **kwargs)


@login_required
@require_http_methods(["GET", "POST"])
def room_create(request):
    form = RoomCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            room = services.room_create(creator=request.user, **form.cleaned_data)
        except FieldErrors as exc:
            form.add_service_errors(exc)
        except Throttled as exc:
            form.add_error(None, exc.detail)
        else:
            return redirect("room", room_id=room.pk)
    return _page(request, "rooms/create.html", {"form": form})


@login_required
@require_GET
def room_browse(request):
    search = request.GET.get("q", "").strip()
    rooms = selectors.public_rooms_to_join(user=request.user, search=search)[:SEARCH_LIMIT]
    return _page(request, "rooms/browse.html", {"rooms": rooms, "search": search})


@login_required
@require_POST
def room_join(request, room_id: int):
    try:
        services.room_join(user=request.user, room_id=room_id)
    except DomainError as exc:
        return _refused(request, exc, "room_browse")
    return redirect("room", room_id=room_id)


@login_required
@require_POST
def room_leave(request, room_id: int):
    try:
        services.room_leave(user=request.user, room_id=room_id)
    except DomainError as exc:
        return _refused(request, exc, "room", room_id=room_id)
    messages.info(request, "You left the room.")
    return redirect("home")


@login_required
@require_http_methods(["GET", "POST"])
def room_members(request, room_id: int):
    try:
        room = selectors.room_get_visible(user=request.user, room_id=room_id)
    except NotFound:
        raise Http404("Room not found.") from None
    if request.method == "POST":
        try:
            user_id = int_param(request.POST.get("user_id", ""), field="user_id", minimum=1)
            membership = services.member_add(actor=request.user, room_id=room.pk, user_id=user_id)
        except FieldErrors:
            messages.error(request, "Choose someone to add.")
        except DomainError as exc:
            return _refused(request, exc, "room_members", room_id=room.pk)
        else:
            messages.success(request, f"{membership.user.shown_name} is now a member.")
        return redirect("room_members", room_id=room.pk)
    members = list(selectors.room_members(room=room))
    mine = next((m for m in members if m.user_id == request.user.pk), None)
    can_add = not room.is_direct and (request.user.is_moderator or (mine is not None and mine.can_manage))
    search = request.GET.get("q", "").strip()
    candidates = []
    if can_add and search:
        member_ids = {m.user_id for m in members}
        candidates = [u for u in user_directory(search=search)[: SEARCH_LIMIT * 2] if u.pk not in member_ids]
    context = {
        "room": room,
        "members": members,
        "can_add": can_add,
        "search": search,
        "candidates": candidates[:SEARCH_LIMIT],
    }
    return _page(request, "rooms/members.html", context, current_room_id=room.pk)


@login_required
@require_GET
def people(request):
    search = request.GET.get("q", "").strip()
    users = list(user_directory(search=search, exclude=request.user)[:SEARCH_LIMIT])
    presence = presence_statuses(user_ids=[u.pk for u in users])
    rows = [{"user": u, "presence": presence[u.pk]} for u in users]
    return _page(request, "rooms/people.html", {"people": rows, "search": search})


@login_required
@require_POST
def direct_start(request, user_id: int):
    try:
        room, _ = services.direct_get_or_create(creator=request.user, user_ids=[user_id])
    except DomainError as exc:
        return _refused(request, exc, "people")
    return redirect("room", room_id=room.pk)

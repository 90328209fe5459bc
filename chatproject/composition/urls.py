"""The web UI's pages."""

from django.urls import path

from chatproject import ids  # noqa: F401  (registers the `<id:...>` converter)
from chatproject.composition import chat_views, room_views

urlpatterns = [
    path("", chat_views.chat_home, name="home"),
    path("rooms/<id:room_id>/", chat_views.room_page, name="room"),
    path("rooms/new/", room_views.room_create, name="room_create"),
    path("rooms/browse/", room_views.room_browse, name="room_browse"),
    path("rooms/<id:room_id>/join/", room_views.room_join, name="room_join"),
    path("rooms/<id:room_id>/leave/", room_views.room_leave, name="room_leave"),
    path("rooms/<id:room_id>/members/", room_views.room_members, name="room_members"),
    path("people/", room_views.people, name="people"),
    path("people/<id:user_id>/message/", room_views.direct_start, name="direct_start"),
]

from django.urls import path

from chatproject import ids  # noqa: F401  (registers the `<id:...>` converter)
from chatproject.composition import api

urlpatterns = [
    path("rooms/", api.RoomListView.as_view(), name="api-rooms"),
    path("rooms/<id:room_id>/", api.RoomDetailView.as_view(), name="api-room"),
    path("rooms/<id:room_id>/join/", api.RoomJoinView.as_view(), name="api-room-join"),
    path("dms/", api.DirectView.as_view(), name="api-dms"),
]

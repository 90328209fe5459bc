from django.urls import path

from chatproject import ids  # noqa: F401  (registers the `<id:...>` converter)
from rooms.api import views

urlpatterns = [
    path("rooms/public/", views.PublicRoomListView.as_view(), name="api-rooms-public"),
    path("rooms/<id:room_id>/leave/", views.RoomLeaveView.as_view(), name="api-room-leave"),
    path("rooms/<id:room_id>/members/", views.MemberListView.as_view(), name="api-room-members"),
    path("rooms/<id:room_id>/members/<id:user_id>/", views.MemberDetailView.as_view(), name="api-room-member"),
    path("rooms/<id:room_id>/read/", views.RoomReadView.as_view(), name="api-room-read"),
    path("rooms/<id:room_id>/delivered/", views.RoomDeliveredView.as_view(), name="api-room-delivered"),
]

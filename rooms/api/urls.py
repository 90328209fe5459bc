from django.urls import path

from rooms.api import views

urlpatterns = [
    path("rooms/", views.RoomListView.as_view(), name="api-rooms"),
    path("rooms/public/", views.PublicRoomListView.as_view(), name="api-rooms-public"),
    path("rooms/<int:room_id>/", views.RoomDetailView.as_view(), name="api-room"),
    path("rooms/<int:room_id>/join/", views.RoomJoinView.as_view(), name="api-room-join"),
    path("rooms/<int:room_id>/leave/", views.RoomLeaveView.as_view(), name="api-room-leave"),
    path("rooms/<int:room_id>/members/", views.MemberListView.as_view(), name="api-room-members"),
    path("rooms/<int:room_id>/members/<int:user_id>/", views.MemberDetailView.as_view(), name="api-room-member"),
    path("rooms/<int:room_id>/read/", views.RoomReadView.as_view(), name="api-room-read"),
    path("rooms/<int:room_id>/delivered/", views.RoomDeliveredView.as_view(), name="api-room-delivered"),
    path("dms/", views.DirectView.as_view(), name="api-dms"),
]

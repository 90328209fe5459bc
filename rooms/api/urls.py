from django.urls import path

from rooms.api import views

urlpatterns = [
    path("rooms/public/", views.PublicRoomListView.as_view(), name="api-rooms-public"),
    path("rooms/<int:room_id>/leave/", views.RoomLeaveView.as_view(), name="api-room-leave"),
    path("rooms/<int:room_id>/members/", views.MemberListView.as_view(), name="api-room-members"),
    path("rooms/<int:room_id>/members/<int:user_id>/", views.MemberDetailView.as_view(), name="api-room-member"),
    path("rooms/<int:room_id>/read/", views.RoomReadView.as_view(), name="api-room-read"),
    path("rooms/<int:room_id>/delivered/", views.RoomDeliveredView.as_view(), name="api-room-delivered"),
]

from django.urls import path

from chatproject import ids  # noqa: F401  (registers the `<id:...>` converter)
from rooms import views

urlpatterns = [
    path("rooms/new/", views.room_create, name="room_create"),
    path("rooms/browse/", views.room_browse, name="room_browse"),
    path("rooms/<id:room_id>/join/", views.room_join, name="room_join"),
    path("rooms/<id:room_id>/leave/", views.room_leave, name="room_leave"),
    path("rooms/<id:room_id>/members/", views.room_members, name="room_members"),
    path("people/", views.people, name="people"),
    path("people/<id:user_id>/message/", views.direct_start, name="direct_start"),
]

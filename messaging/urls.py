from django.urls import path

from chatproject import ids  # noqa: F401  (registers the `<id:...>` converter)
from messaging import views

urlpatterns = [
    path("", views.chat_home, name="home"),
    path("rooms/<id:room_id>/", views.room_page, name="room"),
]

from django.urls import path

from messaging import views

urlpatterns = [
    path("", views.chat_home, name="home"),
    path("rooms/<int:room_id>/", views.room_page, name="room"),
]

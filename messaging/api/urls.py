from django.urls import path

from chatproject import ids  # noqa: F401  (registers the `<id:...>` converter)
from messaging.api import views

urlpatterns = [
    path("rooms/<id:room_id>/messages/", views.RoomMessagesView.as_view(), name="api-room-messages"),
    path("messages/<id:message_id>/", views.MessageDetailView.as_view(), name="api-message"),
    path("search/messages/", views.MessageSearchView.as_view(), name="api-search-messages"),
    path("messages/<id:message_id>/receipts/", views.MessageReceiptsView.as_view(), name="api-message-receipts"),
]

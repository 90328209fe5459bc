from django.urls import path

from chatproject import ids  # noqa: F401  (registers the `<id:...>` converter)
from messaging.api import attachments, views

urlpatterns = [
    path("attachments/", attachments.AttachmentUploadView.as_view(), name="api-attachments"),
    path(
        "attachments/<id:attachment_id>/download/",
        attachments.AttachmentFileView.as_view(),
        name="api-attachment-download",
    ),
    path(
        "attachments/<id:attachment_id>/thumbnail/",
        attachments.AttachmentThumbnailView.as_view(),
        name="api-attachment-thumbnail",
    ),
    path("rooms/<id:room_id>/messages/", views.RoomMessagesView.as_view(), name="api-room-messages"),
    path("messages/<id:message_id>/", views.MessageDetailView.as_view(), name="api-message"),
    path("search/messages/", views.MessageSearchView.as_view(), name="api-search-messages"),
    path("messages/<id:message_id>/receipts/", views.MessageReceiptsView.as_view(), name="api-message-receipts"),
]

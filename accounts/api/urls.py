from django.urls import path

from accounts.api import views
from chatproject import ids  # noqa: F401  (registers the `<id:...>` converter)

urlpatterns = [
    path("auth/register/", views.RegisterView.as_view(), name="api-register"),
    path("auth/token/", views.TokenObtainView.as_view(), name="api-token"),
    path("auth/token/refresh/", views.TokenRotateView.as_view(), name="api-token-refresh"),
    path("auth/logout/", views.LogoutView.as_view(), name="api-logout"),
    path("auth/sessions/", views.DeviceListView.as_view(), name="api-devices"),
    path("auth/sessions/<id:device_id>/", views.DeviceDetailView.as_view(), name="api-device"),
    path("me/", views.MeView.as_view(), name="api-me"),
    path("me/password/", views.PasswordChangeView.as_view(), name="api-password"),
    path("users/", views.UserDirectoryView.as_view(), name="api-users"),
]

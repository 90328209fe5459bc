from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from chatproject import health

api_v1 = [
    path("", include("accounts.api.urls")),
    path("", include("chatproject.composition.api_urls")),
    path("", include("rooms.api.urls")),
    path("", include("messaging.api.urls")),
    path("", include("notifications.api.urls")),
]

urlpatterns = [
    path("", include("chatproject.composition.urls")),
    path("accounts/", include("accounts.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("", include("django_prometheus.urls")),
]

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from chatproject import health, ids  # noqa: F401  (ids registers the `<id:...>` converter)
from chatproject.api import api_not_found

api_v1 = [
    path("", include("accounts.api.urls")),
    path("", include("rooms.api.urls")),
    path("", include("messaging.api.urls")),
    path("", include("notifications.api.urls")),
    # Last: an unknown API path (or an id no bigint holds) answers JSON 404, not an HTML page.
    re_path(r"^(?:.*/)?$", api_not_found, name="api-not-found"),
]

urlpatterns = [
    path("", include("messaging.urls")),
    path("", include("rooms.urls")),
    path("accounts/", include("accounts.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("", include("django_prometheus.urls")),
]

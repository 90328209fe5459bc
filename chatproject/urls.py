from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from chatproject import health, ids  # noqa: F401  (ids registers the `<id:...>` converter)
from chatproject.api import api_not_found
from chatproject.csp import swagger_ui_csp

api_v1 = [
    path("", include("accounts.api.urls")),
    path("", include("chatproject.composition.api_urls")),
    path("", include("rooms.api.urls")),
    path("", include("messaging.api.urls")),
    path("", include("notifications.api.urls")),
    # Last: an unknown API path (or an id no bigint holds) answers JSON 404, not an HTML page.
    re_path(r"^(?:.*/)?$", api_not_found, name="api-not-found"),
]

urlpatterns = [
    path("", include("chatproject.composition.urls")),
    path("accounts/", include("accounts.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view loads its start-up script from a URL instead of inlining it; what
    # else Swagger UI needs under the CSP is allowed on this page only.
    path(
        "api/docs/",
        csp_update(swagger_ui_csp())(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics, name="metrics"),
]

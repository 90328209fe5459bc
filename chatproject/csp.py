"""What the Swagger UI page adds to the site's Content-Security-Policy, for itself only."""

from urllib.parse import urlsplit

from drf_spectacular.settings import spectacular_settings


def swagger_ui_csp() -> dict[str, list[str]]:
    """Swagger UI's files come from SWAGGER_UI_DIST (a CDN, or 'SIDECAR' = our static files).

    Its page template carries a small inline <style> block, so styles (never scripts)
    may be inline on this page.
    """
    extra: dict[str, list[str]] = {"style-src": ["'unsafe-inline'"]}
    sources = {spectacular_settings.SWAGGER_UI_DIST, spectacular_settings.SWAGGER_UI_FAVICON_HREF}
    origins = sorted({f"{p.scheme}://{p.netloc}" for p in map(urlsplit, sources) if p.scheme in ("http", "https")})
    if origins:
        extra["script-src"] = origins
        extra["style-src"] += origins
        extra["img-src"] = origins
    return extra

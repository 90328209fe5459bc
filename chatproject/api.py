"""The one place REST errors get their `{"detail", "code"}` shape."""

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from chatproject.db import database_unavailable
from chatproject.errors import DomainError, FieldErrors, Unavailable
from chatproject.ratelimits import retry_after

_CODE_BY_CLASS: list[tuple[type[Exception], str]] = [
    (exceptions.NotAuthenticated, "not_authenticated"),
    (exceptions.AuthenticationFailed, "not_authenticated"),
    (exceptions.PermissionDenied, "permission_denied"),
    (exceptions.NotFound, "not_found"),
    (exceptions.Throttled, "throttled"),
    (exceptions.ParseError, "invalid"),
    (exceptions.UnsupportedMediaType, "invalid"),
    (exceptions.MethodNotAllowed, "method_not_allowed"),
    (exceptions.NotAcceptable, "not_acceptable"),
]


def _code_for(exc: Exception) -> str:
    for cls, code in _CODE_BY_CLASS:
        if isinstance(exc, cls):
            return code
    return "invalid"


def _detail_text(detail: Any) -> str:
    if isinstance(detail, dict):
        detail = detail.get("detail", next(iter(detail.values()), ""))
    if isinstance(detail, list):
        detail = detail[0] if detail else ""
    return str(detail)


# OpenAPI: the answer of an endpoint under a rate limit (see docs/protocol.md, "Rate limits").
THROTTLED_RESPONSE = OpenApiResponse(
    response=inline_serializer(
        "ThrottledError", {"detail": serializers.CharField(), "code": serializers.CharField(default="throttled")}
    ),
    description="Over a rate limit: `code` is `throttled`; the `Retry-After` header says how many seconds to wait.",
)


def error_response(description: str) -> OpenApiResponse:
    """OpenAPI: an error answer a view gives beside the automatic ones; chatproject/schema.py adds its body."""
    return OpenApiResponse(description=description)


RETRY_AFTER = OpenApiParameter(
    "Retry-After", int, OpenApiParameter.HEADER, response=[429], description="Whole seconds to wait before retrying."
)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, FieldErrors):
        return Response(exc.fields, status=exc.status)
    if isinstance(exc, DomainError):
        headers = {}
        wait = getattr(exc, "wait", None)
        if wait:
            headers["Retry-After"] = str(retry_after(wait))
        return Response({"detail": exc.detail, "code": exc.code}, status=exc.status, headers=headers)
    # Django's limits on a request body, met while parsing it: without this, its HTML error page.
    if isinstance(exc, RequestDataTooBig):
        return Response({"detail": "The request body is too large.", "code": "too_large"}, status=413)
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        return Response({"detail": "Too many fields or files in the request body.", "code": "invalid"}, status=400)
    if database_unavailable(exc):
        exc = Unavailable()
        return Response({"detail": exc.detail, "code": exc.code}, status=exc.status, headers={"Retry-After": "1"})
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        # Field errors keep DRF's shape (field -> list of messages), as the contract says.
        if not isinstance(response.data, dict):
            response.data = {"detail": _detail_text(response.data), "code": "invalid"}
        return response
    if response.status_code == status.HTTP_413_REQUEST_ENTITY_TOO_LARGE:
        code = "too_large"
    else:
        code = _code_for(exc)
    response.data = {"detail": _detail_text(response.data), "code": code}
    if code == "not_authenticated" and response.status_code == status.HTTP_403_FORBIDDEN:
        # Views without authenticators (login, register) still answer 401 to bad credentials.
        response.status_code = status.HTTP_401_UNAUTHORIZED
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


@csrf_exempt  # an API answer, like DRF's views: never the CSRF failure page (any method, cookie or not)
def api_not_found(request, *args: Any, **kwargs: Any) -> JsonResponse:
    """Any `/api/v1/` path that names nothing (an id past 2**63 - 1 too): JSON, like every API error."""
    return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)

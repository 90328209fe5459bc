"""OpenAPI: the project's AutoSchema, which documents the error answers every operation can give.

Each operation gets, beside what its view declares, the errors the shared machinery answers
for it (the exception handler in `chatproject/api.py`, DRF's authentication and parsing):

| status | when | body |
| --- | --- | --- |
| 400 | a body or query parameter is refused | field -> messages (`FieldErrors`), or `Error` with `invalid` |
| 401 | an operation that needs a signed-in caller gets none, or a bad token | `Error`, `not_authenticated` |
| 403 | an unsafe method authenticated by the session cookie without its CSRF token | `Error`, `permission_denied` |
| 404 | an id in the path names nothing the caller may see | `Error`, `not_found` |
| 413 | a body over DATA_UPLOAD_MAX_MEMORY_SIZE (Django's limit; uploads have their own) | `Error`, `too_large` |
| 415 | a body in a media type the operation does not read | `Error`, `invalid` |
| 503 | the database is unreachable for now (with `Retry-After`) | `Error`, `unavailable` |

Views declare the rest (403 of a permission rule, 429 of a rate limit, 401 of a login)
in their `extend_schema(responses=...)`, with `chatproject.api.error_response`.
"""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework import serializers

ERROR_CODES = [
    "not_authenticated",
    "permission_denied",
    "not_found",
    "invalid",
    "throttled",
    "too_large",
    "unavailable",
    "method_not_allowed",
    "not_acceptable",
]


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.ChoiceField(choices=ERROR_CODES)


# DRF's validation errors: field -> list of messages, or nested (a list's items, by index).
FIELD_ERRORS = {
    "type": "object",
    "description": "Validation errors: each refused field with its messages (nested for lists and objects).",
    "additionalProperties": {
        "oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "object"}],
    },
}

RETRY_AFTER_HEADER = {"schema": {"type": "integer"}, "description": "Whole seconds to wait before retrying."}

_DESCRIPTIONS = {
    "400": "`invalid`: a field or parameter was refused (field -> messages), or the request as a whole",
    "401": "`not_authenticated`: no credentials, or they are not (or no longer) valid",
    "403": "`permission_denied`: the caller may not do this (or a session cookie came without its CSRF token)",
    "404": "`not_found`: no such object for the caller",
    "413": "`too_large`: the request body is over what the server accepts",
    "415": "`invalid`: the body's media type is not one this operation reads",
    "503": "`unavailable`: the database is unreachable for now; nothing was done. Retry after `Retry-After`",
}

_BODY_METHODS = {"POST", "PUT", "PATCH"}


def documented(field, **schema):
    """A serializer field whose schema says more than its own validation checks (the service checks the rest)."""
    # On the class, not the instance: a serializer deep-copies its fields by constructing them anew.
    field.__class__ = type(field.__class__.__name__, (field.__class__,), {"schema_extra": schema})
    return field


_UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class ChatAutoSchema(AutoSchema):
    """Also reads `schema_extra` of fields (see `documented`) and of serializers (a dict merged into the
    component: `anyOf` alternatives of what a request must hold), and `whole_on_patch` of a serializer
    whose PATCH needs every required field (the view validates it as a whole, not partially)."""

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        return {**schema, **getattr(field, "schema_extra", {})}

    def _insert_field_validators(self, field, schema):
        # A documented pattern or minimum length refuses the blank string the field itself lets
        # through to the service: do not add it back as an alternative.
        extra = getattr(field, "schema_extra", {})
        if getattr(field, "allow_blank", False) and ("pattern" in extra or "minLength" in extra):
            field.allow_blank = False
            try:
                return super()._insert_field_validators(field, schema)
            finally:
                field.allow_blank = True
        return super()._insert_field_validators(field, schema)

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        return {**schema, **getattr(serializer, "schema_extra", {})}

    def _get_request_for_media_type(self, serializer, direction="request"):
        if self.method == "PATCH" and getattr(serializer, "whole_on_patch", False):
            self.method = "PUT"
            try:
                return super()._get_request_for_media_type(serializer, direction)
            finally:
                self.method = "PATCH"
        schema, required = super()._get_request_for_media_type(serializer, direction)
        # A body that must hold one of several things (`anyOf` in its schema_extra) is required too.
        return schema, required or "anyOf" in getattr(serializer, "schema_extra", {})

    def _error_ref(self) -> dict:
        return self.resolve_serializer(ErrorSerializer, "response").ref

    def _field_errors_ref(self) -> dict:
        component = ResolvedComponent(
            name="FieldErrors", type=ResolvedComponent.SCHEMA, object="FieldErrors", schema=FIELD_ERRORS
        )
        self.registry.register_on_missing(component)
        return component.ref

    def _automatic_errors(self) -> set[str]:
        codes = {"503"}
        has_body = self.method in _BODY_METHODS and self.get_request_serializer() is not None
        if has_body:
            codes |= {"400", "413", "415"}
        if any(p.get("in") == "query" for p in self._get_parameters()):
            codes.add("400")
        if "{" in self.path:
            codes.add("404")
        security = self.get_auth()
        if security and {} not in security:
            codes.add("401")
        if self.method in _UNSAFE_METHODS and any(
            getattr(auth, "__name__", "") == "SessionAuthentication" for auth in self.view.authentication_classes
        ):
            codes.add("403")  # SessionAuthentication's CSRF check
        return codes

    def _error_content(self, code: str) -> dict:
        schema = self._error_ref()
        if code == "400":
            schema = {"oneOf": [self._field_errors_ref(), schema]}
        return {"application/json": {"schema": schema}}

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code in sorted(self._automatic_errors() | (set(responses) & set(_DESCRIPTIONS))):
            answer = responses.setdefault(code, {"description": _DESCRIPTIONS.get(code, "")})
            answer.setdefault("content", self._error_content(code))
            if code == "503":
                answer.setdefault("headers", {})["Retry-After"] = RETRY_AFTER_HEADER
        return responses

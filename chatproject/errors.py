"""Domain errors raised by services and mapped once per door (REST, WebSocket, web, admin)."""


class DomainError(Exception):
    code = "invalid"
    status = 400
    default_detail = "Invalid request."

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or self.default_detail
        super().__init__(self.detail)


class NotFound(DomainError):
    code = "not_found"
    status = 404
    default_detail = "Not found."


class NotAuthenticated(DomainError):
    code = "not_authenticated"
    status = 401
    default_detail = "Authentication credentials were not provided or are no longer valid."


class PermissionDenied(DomainError):
    code = "permission_denied"
    status = 403
    default_detail = "You do not have permission to do this."


class Invalid(DomainError):
    code = "invalid"
    status = 400


class TooLarge(DomainError):
    """A request body over its limit (an upload): 413. A too-long field is FieldTooLarge."""

    code = "too_large"
    status = 413
    default_detail = "Too large."


class Throttled(DomainError):
    code = "throttled"
    status = 429
    default_detail = "Too many requests; slow down."

    def __init__(self, detail: str | None = None, wait: float | None = None) -> None:
        self.wait = wait
        super().__init__(detail)


class FieldErrors(Invalid):
    """Validation errors keyed by field, shaped like DRF's: field -> list of messages."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        self.fields = fields
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in fields.items()))


class FieldTooLarge(FieldErrors):
    """A field over its size limit: a field error for REST, `too_large` on the socket."""

    code = "too_large"


class Unavailable(DomainError):
    """A service the request needs (the database) is unreachable for now: retry, nothing was stored."""

    code = "unavailable"
    status = 503
    default_detail = "The server cannot reach its database right now; try again shortly."

"""Errors on the wire, in the Nylas v3 shape the SDK parses.

``{"request_id": ..., "error": {"type": "api.not_found_error", "message": ...}}``; the HTTP status
is chosen here and only here.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from inboxsync import errors
from inboxsync.api.envelope import request_id_of

log = logging.getLogger(__name__)

# (status, Nylas error type) for each branch of the tree; the most specific class wins.
STATUS: list[tuple[type[errors.InboxsyncError], int, str]] = [
    (errors.AuthError, 401, "api.authentication_error"),
    (errors.RateLimited, 429, "api.rate_limit_error"),
    (errors.ObjectError, 400, "api.invalid_request_error"),
    (errors.ProviderError, 504, "api.provider_error"),
    (errors.InvalidRequest, 400, "api.invalid_request_error"),
    (errors.NotFound, 404, "api.not_found_error"),
    (errors.Conflict, 409, "api.invalid_request_error"),
    (errors.StorageError, 503, "api.internal_error"),
    (errors.ConfigError, 500, "api.internal_error"),
    (errors.InboxsyncError, 500, "api.internal_error"),
]

HTTP_TYPES = {
    400: "api.invalid_request_error",
    401: "api.authentication_error",
    403: "token.unauthorized_access",
    404: "api.not_found_error",
    405: "api.invalid_request_error",
    413: "api.invalid_request_payload",
    415: "api.invalid_request_payload",
    422: "api.invalid_request_payload",
    423: "api.resource_blocked",
    429: "api.rate_limit_error",
}


class ApiError(errors.InboxsyncError):
    """An error raised by the API layer itself with an explicit status (e.g. 401 bad key)."""

    def __init__(self, status: int, message: str, error_type: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type or HTTP_TYPES.get(status, "api.invalid_request_error")


def error_response(
    request: Request,
    status: int,
    error_type: str,
    message: str,
    provider_error: dict[str, object] | None = None,
) -> JSONResponse:
    body: dict[str, object] = {"type": error_type, "message": message}
    if provider_error is not None:
        body["provider_error"] = provider_error
    headers = {"Retry-After": "5"} if status in (429, 503) else None
    return JSONResponse(
        {"request_id": request_id_of(request), "error": body}, status_code=status, headers=headers
    )


def classify(exc: errors.InboxsyncError) -> tuple[int, str]:
    if isinstance(exc, ApiError):
        return exc.status, exc.error_type
    for cls, status, error_type in STATUS:
        if isinstance(exc, cls):
            return status, error_type
    return 500, "api.internal_error"


def install(app: FastAPI) -> None:
    """Register handlers so that every error leaves as JSON in the Nylas shape."""

    @app.exception_handler(errors.InboxsyncError)
    async def _inboxsync(request: Request, exc: errors.InboxsyncError) -> JSONResponse:
        status, error_type = classify(exc)
        if status >= 500:
            log.error("request failed: %s", exc, exc_info=exc)
        provider_error = exc.provider_error if isinstance(exc, errors.ProviderError) else None
        return error_response(request, status, error_type, exc.message, provider_error)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors()[:5]:
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            problems.append(
                f"{where}: {err.get('msg', 'invalid')}" if where else err.get("msg", "")
            )
        message = "; ".join(problems) or "invalid request"
        return error_response(request, 400, "api.invalid_request_error", message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        error_type = HTTP_TYPES.get(exc.status_code, "api.invalid_request_error")
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and message == "Not Found":
            message = f"no route for {request.method} {request.url.path}"
        return error_response(request, exc.status_code, error_type, message)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(request, 500, "api.internal_error", "internal error")

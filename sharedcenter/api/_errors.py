"""The one place where domain errors become HTTP responses."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from sharedcenter.errors import (
    AuthenticationFailed,
    Conflict,
    ImproperlyConfigured,
    InvalidInput,
    NotFound,
    PermissionDenied,
    SharedCenterError,
    StorageUnavailable,
    UploadTooLarge,
)

__all__ = ["install_error_handlers", "status_for"]

logger = logging.getLogger(__name__)

_STATUS: list[tuple[type[SharedCenterError], int]] = [
    (UploadTooLarge, 413),
    (InvalidInput, 422),
    (NotFound, 404),
    (AuthenticationFailed, 401),
    (PermissionDenied, 403),
    (Conflict, 409),
    (StorageUnavailable, 503),
    (ImproperlyConfigured, 500),
]


def status_for(exc: SharedCenterError) -> int:
    return next((code for cls, code in _STATUS if isinstance(exc, cls)), 500)


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SharedCenterError)
    status = status_for(exc)
    if status >= 500:
        logger.error("%s %s failed: %s", request.method, request.url.path, exc, exc_info=exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status == 503:
        headers = {"Retry-After": "30"}
    return JSONResponse({"error": type(exc).__name__, "detail": str(exc)}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(SharedCenterError, _handle)

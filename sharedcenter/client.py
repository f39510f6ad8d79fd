"""A small HTTP client of the sharedcenter API (used by the CLI's commands and the demo).

Uploads go through :mod:`sharedcenter.upload` (collect, plan_batches, send_batches), on
:attr:`ApiClient.http`.
"""

from __future__ import annotations

from typing import Any

import httpx

from sharedcenter.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    SharedCenterError,
    StorageUnavailable,
    UploadTooLarge,
)

__all__ = ["ApiClient"]

_ERRORS: dict[int, type[SharedCenterError]] = {
    401: AuthenticationFailed, 403: PermissionDenied, 404: NotFound, 409: Conflict, 413: UploadTooLarge,
    422: InvalidInput, 503: StorageUnavailable,
}


class ApiClient:
    """Talks to one sharedcenter server with a bearer token."""

    def __init__(self, base_url: str, token: str | None = None, *, timeout: float = 120.0) -> None:
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"

    def close(self) -> None:
        self.http.close()

    def _check(self, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise _ERRORS.get(response.status_code, SharedCenterError)(f"HTTP {response.status_code}: {detail}")
        return response.json()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            return self._check(self.http.request(method, path, **kwargs))
        except httpx.TransportError as exc:
            raise StorageUnavailable(f"cannot reach {self.http.base_url}: {exc}") from exc

    def login(self, username: str, password: str) -> dict[str, Any]:
        body: dict[str, Any] = self.request("POST", "/api/auth/login",
                                            json={"username": username, "password": password})
        self.http.headers["Authorization"] = f"Bearer {body['token']}"
        return body

"""The httpx adapter of the webhook transport; httpx errors become the attempt's error text."""

from __future__ import annotations

import httpx

from sharedcenter.webhooks.service import WebhookTransport

__all__ = ["HttpxTransport"]


class HttpxTransport(WebhookTransport):
    """POSTs with httpx, no redirects followed (a moved endpoint must be registered again)."""

    def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int | None, str]:
        try:
            response = httpx.post(url, content=body, headers=headers, timeout=timeout, follow_redirects=False)
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"
        return response.status_code, "" if response.is_success else f"HTTP {response.status_code}"

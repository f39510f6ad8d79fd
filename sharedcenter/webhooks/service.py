"""Report events for the clinic's own system, HMAC-signed and retried until acknowledged.

Each event becomes one :class:`~sharedcenter.db.models.WebhookDelivery` row per active endpoint of
the study's site, queued after commit.  An attempt POSTs the payload as JSON with::

    Content-Type: application/json
    X-SharedCenter-Event: final-ready
    X-SharedCenter-Delivery: 42
    X-SharedCenter-Timestamp: 1767225600              (Unix seconds of this attempt)
    X-SharedCenter-Signature: sha256=<hex HMAC-SHA256 of the raw body with the endpoint's secret>

The receiver recomputes the HMAC over the exact bytes it received and compares in constant time;
the body carries ``delivery_id`` and ``created_at`` (covered by the signature) so a receiver can drop
replays and duplicates.  A 2xx answer acknowledges; anything else is retried with exponential back-off
(``webhook_backoff_s * 2**(attempt-1)``, at most an hour) up to ``webhook_max_attempts``.  Every
attempt is counted on the row, with the last error.
"""

from __future__ import annotations

import abc
import dataclasses
import enum
import hashlib
import hmac
import json
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sharedcenter.audit import record_event
from sharedcenter.auth import Principal
from sharedcenter.db.models import Site, WebhookDelivery, WebhookEndpoint, utcnow
from sharedcenter.enums import AuditAction, Role
from sharedcenter.errors import InvalidInput, NotFound, PermissionDenied
from sharedcenter.queue import TaskQueue, call_after_commit
from sharedcenter.services import Services

__all__ = [
    "DeliveryOutcome",
    "WebhookEvent",
    "WebhookTransport",
    "add_endpoint",
    "attempt_delivery",
    "emit_event",
    "list_endpoints",
    "queue_pending",
    "sign_body",
]

_MAX_DELAY_S = 3600.0


class WebhookEvent(enum.StrEnum):
    """What the clinic is told about."""

    PRELIMINARY_READY = "preliminary-ready"
    FINAL_READY = "final-ready"
    RETAKE_REQUESTED = "retake-requested"
    CRITICAL_FINDING = "critical-finding"


class WebhookTransport(abc.ABC):
    """Sends one HTTP POST; adapters translate their client's errors into the returned error text."""

    @abc.abstractmethod
    def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int | None, str]:
        """POST ``body``; returns (status code, "") or (None, why it could not be sent)."""


@dataclasses.dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """The result of one attempt: delivered, retry after ``retry_in`` seconds, or given up."""

    delivered: bool
    retry_in: float | None
    attempts: int


def sign_body(secret: str, body: bytes) -> str:
    """The ``X-SharedCenter-Signature`` value: ``sha256=`` and the hex HMAC-SHA256 of ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def add_endpoint(session: Session, principal: Principal, site_code: str, url: str, secret: str) -> WebhookEndpoint:
    """Register a site's webhook URL and shared secret (admins only).

    Raises
    ------
    PermissionDenied
        The caller is not an admin.
    InvalidInput
        An unknown site, a URL that is not http(s), or a secret under 16 characters.
    """
    if principal.role is not Role.ADMIN:
        raise PermissionDenied(f"{principal.username} may not register webhooks")
    if session.get(Site, site_code) is None:
        raise InvalidInput(f"no site {site_code!r}")
    if not url.startswith(("http://", "https://")) or len(url) > 500:
        raise InvalidInput("url must be an http:// or https:// URL of at most 500 characters")
    if len(secret) < 16:
        raise InvalidInput("secret must have at least 16 characters")
    row = WebhookEndpoint(site_code=site_code, url=url, secret=secret, active=True)
    session.add(row)
    session.flush()
    record_event(session, principal.actor, AuditAction.WEBHOOK_ENDPOINT_ADDED, "webhook_endpoint", row.id,
                 detail={"site": site_code, "url": url})
    return row


def list_endpoints(session: Session, principal: Principal, site_code: str | None = None) -> list[WebhookEndpoint]:
    """The registered endpoints (of one site when given); admins only."""
    if principal.role is not Role.ADMIN:
        raise PermissionDenied(f"{principal.username} may not see webhooks")
    query = select(WebhookEndpoint).order_by(WebhookEndpoint.id)
    if site_code:
        query = query.where(WebhookEndpoint.site_code == site_code)
    return list(session.scalars(query))


def emit_event(queue: TaskQueue | None, session: Session, site_code: str, event: WebhookEvent | str,
               data: dict[str, Any]) -> list[int]:
    """One delivery per active endpoint of the site, each queued on ``queue`` once the session commits.

    With no ``queue`` the rows wait (``attempts`` 0) until :func:`queue_pending` sends them.
    """
    event = WebhookEvent(event)
    endpoints = session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.site_code == site_code,
                                                              WebhookEndpoint.active.is_(True))).all()
    ids = []
    for endpoint in endpoints:
        row = WebhookDelivery(endpoint_id=endpoint.id, event=event.value, payload={})
        session.add(row)
        session.flush()
        row.payload = {"delivery_id": row.id, "event": event.value, "site": site_code,
                       "created_at": utcnow().isoformat(), "data": data}
        if queue is not None:
            _send_after_commit(session, queue, row.id)
        ids.append(row.id)
    return ids


def _send_after_commit(session: Session, queue: TaskQueue, delivery_id: int) -> None:
    call_after_commit(session, f"webhook:{delivery_id}", lambda: queue.send_webhook(delivery_id))


def queue_pending(session: Session, queue: TaskQueue, limit: int = 500) -> list[int]:
    """Queue deliveries never attempted (emitted without a queue, or their message was lost)."""
    rows = session.scalars(select(WebhookDelivery).where(WebhookDelivery.attempts == 0,
                                                         WebhookDelivery.delivered_at.is_(None))
                           .order_by(WebhookDelivery.id).limit(limit)).all()
    for row in rows:
        _send_after_commit(session, queue, row.id)
    return [r.id for r in rows]


def _body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def _headers(row: WebhookDelivery, endpoint: WebhookEndpoint, body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-SharedCenter-Event": row.event,
            "X-SharedCenter-Delivery": str(row.id), "X-SharedCenter-Timestamp": str(int(time.time())),
            "X-SharedCenter-Signature": sign_body(endpoint.secret, body)}


def attempt_delivery(services: Services, session: Session, delivery_id: int,
                     transport: WebhookTransport) -> DeliveryOutcome:
    """POST one delivery once and record the attempt; says whether and when to try again.

    Raises
    ------
    NotFound
        No such delivery.
    """
    row = session.get(WebhookDelivery, delivery_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no webhook delivery {delivery_id}")
    if row.delivered_at is not None:
        return DeliveryOutcome(True, None, row.attempts)
    endpoint = session.get(WebhookEndpoint, row.endpoint_id)
    assert endpoint is not None
    body = _body(row.payload)
    status, error = transport.post(endpoint.url, body, _headers(row, endpoint, body),
                                   services.settings.webhook_timeout_s)
    row.attempts += 1
    if status is not None and 200 <= status < 300:
        row.delivered_at, row.last_error = utcnow(), None
        return DeliveryOutcome(True, None, row.attempts)
    row.last_error = (error or f"HTTP {status}")[:2000]
    if row.attempts >= services.settings.webhook_max_attempts or not endpoint.active:
        return DeliveryOutcome(False, None, row.attempts)
    delay = min(services.settings.webhook_backoff_s * 2 ** (row.attempts - 1), _MAX_DELAY_S)
    return DeliveryOutcome(False, delay, row.attempts)

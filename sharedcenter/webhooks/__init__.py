"""Webhooks back to the clinic's own system: endpoints, signed events, retried deliveries."""

from sharedcenter.webhooks.service import (
    DeliveryOutcome,
    WebhookEvent,
    WebhookTransport,
    add_endpoint,
    attempt_delivery,
    emit_event,
    list_endpoints,
    queue_pending,
    sign_body,
)

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

"""The webhook delivery service the task calls: one attempt by id, recorded and committed."""

from __future__ import annotations

import logging

from sharedcenter.services import Services
from sharedcenter.webhooks import DeliveryOutcome, WebhookTransport, attempt_delivery
from sharedcenter.webhooks.http import HttpxTransport

__all__ = ["run_delivery"]

logger = logging.getLogger(__name__)


def run_delivery(services: Services, delivery_id: int, transport: WebhookTransport | None = None) -> DeliveryOutcome:
    """Attempt delivery ``delivery_id`` once and commit the attempt; the caller schedules a retry.

    Raises
    ------
    NotFound
        No such delivery.
    """
    with services.db.session() as session:
        outcome = attempt_delivery(services, session, delivery_id, transport or HttpxTransport())
    if outcome.delivered:
        logger.info("webhook delivery %s acknowledged after %s attempt(s)", delivery_id, outcome.attempts)
    elif outcome.retry_in is None:
        logger.warning("webhook delivery %s given up after %s attempts", delivery_id, outcome.attempts)
    return outcome

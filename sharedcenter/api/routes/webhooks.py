"""Admin API of the clinics' webhook endpoints (URL and shared secret per site)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from sharedcenter.api.deps import CurrentUser, ServicesDep
from sharedcenter.api.schemas import WebhookEndpointIn, WebhookEndpointOut
from sharedcenter.db.models import WebhookEndpoint
from sharedcenter.webhooks import add_endpoint, list_endpoints

__all__ = ["router"]

router = APIRouter(prefix="/api/webhooks", tags=["webhooks"])


def _out(row: WebhookEndpoint) -> WebhookEndpointOut:
    return WebhookEndpointOut(id=row.id, site_code=row.site_code, url=row.url, active=row.active)


@router.post("", status_code=201)
def register(body: WebhookEndpointIn, principal: CurrentUser, services: ServicesDep) -> WebhookEndpointOut:
    """Register a site's endpoint; the secret is never shown again."""
    with services.db.session() as session:
        return _out(add_endpoint(session, principal, body.site_code, body.url, body.secret))


@router.get("")
def endpoints(principal: CurrentUser, services: ServicesDep,
              site: Annotated[str | None, Query(max_length=64)] = None) -> list[WebhookEndpointOut]:
    with services.db.session() as session:
        return [_out(r) for r in list_endpoints(session, principal, site)]

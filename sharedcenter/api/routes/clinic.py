"""The clinic's view for technicians: their site's studies with AI preliminary, final reports and retakes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from sharedcenter.api.deps import CurrentUser, ServicesDep
from sharedcenter.clinic import site_overview
from sharedcenter.errors import InvalidInput

__all__ = ["router"]

router = APIRouter(prefix="/api/station", tags=["clinic"])


@router.get("/clinic/studies")
def clinic_studies(principal: CurrentUser, services: ServicesDep, site: str | None = None,
                   limit: int = Query(100, ge=1, le=500)) -> list[dict[str, Any]]:
    """Each study of the site: state, quality verdict, AI preliminary text, signed report, retake reason."""
    site_code = site or principal.site_code
    if not site_code:
        raise InvalidInput("query parameter 'site' is required")
    with services.db.session() as session:
        return site_overview(session, principal, site_code, limit=limit)

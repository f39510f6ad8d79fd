"""Load a region into the database: insert or update centers and sites, never delete them."""

from __future__ import annotations

import dataclasses

from sqlalchemy import select
from sqlalchemy.orm import Session

from sharedcenter.audit import record_event
from sharedcenter.db.models import Center, Site
from sharedcenter.enums import AuditAction
from sharedcenter.region.model import RegionSpec

__all__ = ["LoadSummary", "load_region"]


@dataclasses.dataclass(frozen=True, slots=True)
class LoadSummary:
    centers: int
    sites: int
    deactivated_sites: int


def load_region(session: Session, region: RegionSpec, actor: str = "system") -> LoadSummary:
    """Upsert the region's centers and sites; sites no longer listed are deactivated, not deleted
    (their studies and reports stay)."""
    for center_spec in region.centers:
        center = session.get(Center, center_spec.code) or Center(code=center_spec.code)
        center.name, center.kind = center_spec.name, center_spec.kind
        center.county_code, center.ae_title, center.active = center_spec.county_code, center_spec.ae_title, True
        session.add(center)
    session.flush()
    listed = {s.code for s in region.sites}
    for spec in region.sites:
        site = session.get(Site, spec.code) or Site(code=spec.code)
        site.name, site.county_code, site.ae_title = spec.name, spec.county_code, spec.ae_title
        site.imaging_center_code, site.ecg_center_code = spec.imaging_center_code, spec.ecg_center_code
        site.active = True
        session.add(site)
    stale = session.scalars(select(Site).where(Site.code.not_in(listed), Site.active.is_(True))).all()
    for site in stale:
        site.active = False
    summary = LoadSummary(len(region.centers), len(region.sites), len(stale))
    record_event(session, actor, AuditAction.REGION_LOADED, "region", region.code,
                 detail=dataclasses.asdict(summary))
    return summary

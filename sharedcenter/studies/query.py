"""Reading what a caller may see: the worklist, a site's studies, one study."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, Select, false, select, true
from sqlalchemy.orm import Session

from sharedcenter.auth import Principal
from sharedcenter.db.models import Study
from sharedcenter.enums import Role, StudyState
from sharedcenter.errors import NotFound, PermissionDenied
from sharedcenter.studies.state import OPEN_STATES

__all__ = ["get_visible_study", "list_site_studies", "visible_to", "worklist"]


def _may_see(principal: Principal, study: Study) -> bool:
    if principal.sees_everything:
        return True
    if principal.role is Role.TECHNICIAN:
        return principal.site_code == study.site_code
    return principal.center_code == study.center_code and principal.reads_kind() == study.kind


def visible_to(principal: Principal) -> ColumnElement[bool]:
    """The same rule as :func:`get_visible_study`, as an SQL condition on ``Study`` for list queries."""
    if principal.sees_everything:
        return true()
    if principal.role is Role.TECHNICIAN:
        return Study.site_code == principal.site_code if principal.site_code else false()
    kind = principal.reads_kind()
    if kind is None:
        return false()
    return (Study.center_code == principal.center_code) & (Study.kind == kind.value)


def get_visible_study(session: Session, principal: Principal, study_id: int) -> Study:
    """The study, if the caller may see it (else NotFound: its existence is not revealed)."""
    study = session.get(Study, study_id)
    if study is None or not _may_see(principal, study):
        raise NotFound(f"no study {study_id}")
    return study


def worklist(
    session: Session,
    principal: Principal,
    *,
    site_code: str | None = None,
    modality: str | None = None,
    states: list[StudyState] | None = None,
    since: dt.datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Study]:
    """The caller's center's open studies: critical first, then priority, then due time."""
    query: Select[tuple[Study]] = select(Study)
    if principal.reads_kind() is not None:
        query = query.where(Study.center_code == principal.center_code, Study.kind == principal.reads_kind())
    elif not principal.sees_everything:
        raise PermissionDenied(f"{principal.username} ({principal.role}) has no worklist")
    wanted = states or list(OPEN_STATES)
    query = query.where(Study.state.in_([s.value for s in wanted]))
    if site_code:
        query = query.where(Study.site_code == site_code)
    if modality:
        query = query.where(Study.modality == modality.upper())
    if since:
        query = query.where(Study.received_at >= since)
    query = query.order_by(Study.critical.desc(), Study.priority_rank, Study.due_at, Study.id)
    return list(session.scalars(query.limit(min(limit, 500)).offset(offset)))


def list_site_studies(
    session: Session, principal: Principal, site_code: str, *, limit: int = 100, offset: int = 0
) -> list[Study]:
    """A site's studies, newest first, for its own technicians (and QC/admin)."""
    if not principal.can_view_site(site_code):
        raise PermissionDenied(f"{principal.username} may not see site {site_code!r}")
    query = select(Study).where(Study.site_code == site_code).order_by(Study.received_at.desc(), Study.id.desc())
    return list(session.scalars(query.limit(min(limit, 500)).offset(offset)))

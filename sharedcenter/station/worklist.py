"""The station's worklist: the center's open studies with who is reading them and the time left.

Ordering is the worklist's (critical first, then priority, then due time); rows carry the live
claim and the service window so the page can draw a countdown.  :func:`worklist_etag` lets the
page poll cheaply (``If-None-Match`` -> 304).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from typing import Any

from sqlalchemy import Select, and_, select
from sqlalchemy.orm import Session, aliased

from sharedcenter.auth import Principal
from sharedcenter.config import Settings
from sharedcenter.db.models import Study, User, utcnow
from sharedcenter.enums import Priority, StudyState
from sharedcenter.errors import PermissionDenied
from sharedcenter.studies.orders import due_time
from sharedcenter.studies.state import OPEN_STATES

__all__ = ["WorklistFilter", "station_worklist", "window_seconds", "worklist_etag"]

#: a study with its claimer's user name and display name (None when unclaimed)
_Rows = Select[Study, str, str]


@dataclasses.dataclass(frozen=True, slots=True)
class WorklistFilter:
    """What the reader narrowed the worklist to (all optional); ``day`` is a received date (UTC)."""

    site_code: str | None = None
    modality: str | None = None
    states: tuple[StudyState, ...] = ()
    day: dt.date | None = None
    limit: int = 100
    offset: int = 0


def window_seconds(settings: Settings, priority: str) -> float:
    """The service window of a priority, in seconds (routine 24 h, urgent and STAT in minutes)."""
    start = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    return (due_time(settings, Priority(priority), start) - start).total_seconds()


def _base_query(principal: Principal) -> _Rows:
    holder = aliased(User)
    now = utcnow()
    live = and_(Study.claimed_by_id == holder.id, Study.claimed_until > now)
    query = select(Study, holder.username, holder.display_name).outerjoin(holder, live)
    if principal.reads_kind() is not None:
        return query.where(Study.center_code == principal.center_code, Study.kind == principal.reads_kind())
    if not principal.sees_everything:
        raise PermissionDenied(f"{principal.username} ({principal.role}) has no worklist")
    return query


def _filtered(query: _Rows, wanted: WorklistFilter) -> _Rows:
    states = wanted.states or OPEN_STATES
    query = query.where(Study.state.in_([s.value for s in states]))
    if wanted.site_code:
        query = query.where(Study.site_code == wanted.site_code)
    if wanted.modality:
        query = query.where(Study.modality == wanted.modality.upper())
    if wanted.day:
        start = dt.datetime.combine(wanted.day, dt.time(), tzinfo=dt.UTC)
        query = query.where(Study.received_at >= start, Study.received_at < start + dt.timedelta(days=1))
    return query


def _row(settings: Settings, study: Study, username: str | None, name: str | None,
         now: dt.datetime) -> dict[str, Any]:
    due = study.due_at if study.due_at.tzinfo else study.due_at.replace(tzinfo=dt.UTC)
    return {
        "id": study.id, "kind": study.kind, "state": study.state, "site_code": study.site_code,
        "patient_id": study.patient_id, "patient_name": study.patient_name, "modality": study.modality,
        "description": study.description, "critical": study.critical, "priority": study.priority,
        "due_at": due.isoformat(), "seconds_left": round((due - now).total_seconds()),
        "window_seconds": window_seconds(settings, study.priority),
        "received_at": study.received_at.isoformat(),
        "claimed_by": None if username is None else {"username": username, "display_name": name},
    }


def station_worklist(session: Session, settings: Settings, principal: Principal,
                     wanted: WorklistFilter | None = None) -> list[dict[str, Any]]:
    """The caller's worklist rows, critical first, then priority, then due time.

    Raises
    ------
    PermissionDenied
        The caller reads no studies (technicians) and is not QC/admin.
    """
    wanted = wanted or WorklistFilter()
    query = _filtered(_base_query(principal), wanted)
    query = query.order_by(Study.critical.desc(), Study.priority_rank, Study.due_at, Study.id)
    query = query.limit(max(1, min(wanted.limit, 500))).offset(max(0, wanted.offset))
    now = utcnow()
    return [_row(settings, study, username, name, now) for study, username, name in session.execute(query)]


def worklist_etag(rows: list[dict[str, Any]]) -> str:
    """A strong validator of what the rows say, without the ticking countdown."""
    stable = [{k: v for k, v in row.items() if k != "seconds_left"} for row in rows]
    return '"' + hashlib.sha256(json.dumps(stable, sort_keys=True).encode()).hexdigest()[:32] + '"'

"""QIDO-RS study search over the studies a caller may see.

The scope is the one of :func:`sharedcenter.studies.get_visible_study`: technicians see their
site's studies, specialists their center's studies of the kind they read, QC and admin all.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from sharedcenter.auth import Principal
from sharedcenter.db.models import Study
from sharedcenter.errors import NotFound
from sharedcenter.studies import get_visible_study, visible_to

__all__ = ["StudyQuery", "find_visible_study", "in_range", "parse_date_range", "search_studies"]

#: at most this many studies are matched before a header-level filter (StudyDate) and paging
MAX_CANDIDATES = 2000

DateRange = tuple[dt.date | None, dt.date | None]


@dataclasses.dataclass(frozen=True, slots=True)
class StudyQuery:
    """QIDO-RS study matching keys; empty ones match everything."""

    patient_id: str = ""
    study_instance_uids: tuple[str, ...] = ()
    modalities: tuple[str, ...] = ()
    study_date: DateRange = (None, None)
    limit: int = 100
    offset: int = 0


def _date(text: str, name: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.datetime.strptime(text.replace("-", "").replace(".", ""), "%Y%m%d").date()
    except ValueError as exc:
        raise ValueError(f"{name} must be a DICOM date YYYYMMDD, got {text!r}") from exc


def parse_date_range(value: str) -> DateRange:
    """A DICOM date or range (``20240101``, ``20240101-20240131``, ``-20240131``, ``20240101-``).

    Raises
    ------
    ValueError
        The value is not a DICOM date or date range.
    """
    value = value.strip()
    if "-" not in value:
        day = _date(value, "StudyDate")
        return day, day
    start, _, end = value.partition("-")
    return _date(start.strip(), "StudyDate"), _date(end.strip(), "StudyDate")


def in_range(day: dt.date | None, wanted: DateRange) -> bool:
    """Whether ``day`` lies in ``wanted``; an unknown day matches only an open range."""
    start, end = wanted
    if start is None and end is None:
        return True
    if day is None:
        return False
    return (start is None or day >= start) and (end is None or day <= end)


def _matching(principal: Principal, query: StudyQuery) -> Select[Study]:
    stmt = select(Study).where(Study.study_instance_uid.is_not(None), visible_to(principal))
    if query.patient_id:
        stmt = stmt.where(Study.patient_id == query.patient_id)
    if query.study_instance_uids:
        stmt = stmt.where(Study.study_instance_uid.in_(query.study_instance_uids))
    if query.modalities:
        stmt = stmt.where(Study.modality.in_([m.upper() for m in query.modalities]))
    return stmt.order_by(Study.received_at.desc(), Study.id.desc())


def search_studies(session: Session, principal: Principal, query: StudyQuery) -> list[Study]:
    """The visible studies matching ``query``'s row-level keys, newest first.

    When ``query.study_date`` is set the caller filters on the instances' StudyDate and pages
    itself, so all candidates (up to :data:`MAX_CANDIDATES`) are returned; otherwise the page.
    """
    stmt = _matching(principal, query)
    if query.study_date != (None, None):
        return list(session.scalars(stmt.limit(MAX_CANDIDATES)))
    return list(session.scalars(stmt.limit(min(query.limit, 500)).offset(query.offset)))


def find_visible_study(session: Session, principal: Principal, study_instance_uid: str) -> Study:
    """The study with this StudyInstanceUID, if the caller may see it.

    Raises
    ------
    NotFound
        No such study, or one the caller may not see (its existence is not revealed).
    """
    study_id = session.scalar(select(Study.id).where(Study.study_instance_uid == study_instance_uid))
    if study_id is None:
        raise NotFound(f"no study {study_instance_uid}")
    try:
        return get_visible_study(session, principal, study_id)
    except NotFound as exc:
        raise NotFound(f"no study {study_instance_uid}") from exc

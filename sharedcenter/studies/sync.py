"""Catching up with the DICOM store's change feed, so that no C-STORE'd study is ever missed.

Orthanc's plugin only rings a doorbell; the truth is Orthanc's ``/changes`` feed, read from a
cursor stored in the database.  A study's arrival puts it on the worklist at once (not yet
complete); its stability, or the arrival of the instance count its order expects, queues the
pre-read.  Each batch of studies and the new cursor commit together, so a crash in between
replays the batch, and replaying is harmless (studies are keyed by their UID).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import logging
import threading

import pydicom
from sqlalchemy import select
from sqlalchemy.orm import Session

from sharedcenter.audit import record_event
from sharedcenter.db.models import Order, Site, Study, SyncCursor, utcnow
from sharedcenter.enums import AuditAction, PrereadReason, StudyKind, StudyState
from sharedcenter.errors import NotFound
from sharedcenter.services import Services
from sharedcenter.storage.base import StudyChange
from sharedcenter.studies.completion import expected_count_reached, queue_complete
from sharedcenter.studies.ingest import create_study, dicom_fields
from sharedcenter.studies.orders import OPEN_ORDER_STATES

__all__ = ["SyncReport", "awaiting_counts", "complete_counted_studies", "complete_settled_studies", "sync_dicom_store"]

logger = logging.getLogger(__name__)
CURSOR = "dicom_store.changes"
ACTOR = "system:orthanc-sync"
_lock = threading.Lock()


@dataclasses.dataclass(slots=True)
class SyncReport:
    seen: int = 0
    created: int = 0
    refused: int = 0
    cursor: int = 0


def _header(services: Services, uid: str) -> pydicom.Dataset | None:
    ids = services.dicom_store.instance_ids(uid)
    if not ids:
        return None
    return pydicom.dcmread(io.BytesIO(services.dicom_store.fetch(ids[0])), stop_before_pixels=True)


def _apply(services: Services, session: Session, change: StudyChange, report: SyncReport) -> None:
    report.seen += 1
    study = session.scalar(select(Study).where(Study.study_instance_uid == change.study_instance_uid))
    if study is None and change.calling_ae_title is None:
        return  # stored over REST, i.e. uploaded through sharedcenter itself, which records it
    if study is None:
        study = _create_from_store(services, session, change, report)
        if study is None:
            return
    study.instance_count = max(study.instance_count, change.instance_count)
    if study.complete and study.state == StudyState.RECEIVED.value:
        return  # queued already (declared or counted complete) and waiting for a worker
    if change.stable:
        _complete(services, session, study)
    elif expected_count_reached(study):
        queue_complete(services, session, study, ACTOR, PrereadReason.EXPECTED_COUNT)


def _create_from_store(services: Services, session: Session, change: StudyChange,
                       report: SyncReport) -> Study | None:
    """A Study row for a study that arrived by C-STORE, routed by the sender's AE title."""
    site = session.scalar(select(Site).where(Site.ae_title == (change.calling_ae_title or "")))
    ds = _header(services, change.study_instance_uid) if site is not None else None
    if site is None or ds is None:
        report.refused += 1
        record_event(session, ACTOR, AuditAction.ACCESS_DENIED, "dicom_study", change.study_instance_uid,
                     detail={"calling_ae_title": change.calling_ae_title,
                             "reason": "unknown AE title" if site is None else "study vanished"})
        return None
    study = create_study(services, session, site, StudyKind.DICOM, dicom_fields(ds), "cstore")
    study.study_instance_uid = change.study_instance_uid
    session.flush()
    report.created += 1
    record_event(session, ACTOR, AuditAction.STUDY_RECEIVED, "study", study.id, study_id=study.id,
                 detail={"study_instance_uid": change.study_instance_uid, "source": "cstore",
                         "calling_ae_title": change.calling_ae_title})
    return study


def _complete(services: Services, session: Session, study: Study) -> None:
    reason = PrereadReason.EXPECTED_COUNT if expected_count_reached(study) else PrereadReason.STABLE
    queue_complete(services, session, study, ACTOR, reason)


def awaiting_counts(services: Services) -> bool:
    """Whether an open order gives an expected instance count (then the feed is worth reading often)."""
    with services.db.session() as session:
        return session.scalar(select(Order.id).where(
            Order.expected_instances.is_not(None), Order.status.in_(OPEN_ORDER_STATES)).limit(1)) is not None


def complete_counted_studies(services: Services) -> list[int]:
    """Queue the pre-read of open C-STORE'd studies whose order's expected instance count has arrived.

    Run on every catch-up pass, so such a study is read as soon as its last instance is in the
    store rather than after the store's quiet period.  One store query per open counted study.
    """
    done: list[int] = []
    with services.db.session() as session:
        waiting = session.scalars(select(Study).join(Order, Study.order_id == Order.id).where(
            Study.complete.is_(False), Study.kind == StudyKind.DICOM.value, Study.study_instance_uid.is_not(None),
            Order.expected_instances.is_not(None)).limit(200)).all()
        for study in waiting:
            count = len(services.dicom_store.instance_ids(str(study.study_instance_uid)))
            study.instance_count = max(study.instance_count, count)
            if expected_count_reached(study):
                queue_complete(services, session, study, ACTOR, PrereadReason.EXPECTED_COUNT)
                done.append(study.id)
    return done


def complete_settled_studies(services: Services, older_than: dt.timedelta) -> list[int]:
    """Complete C-STORE'd studies the store calls stable although its feed never said so.

    Orthanc logs no ``StableStudy`` for a study that was still arriving when it stopped; the
    arrival was recorded, so such studies are found here and queued like any other.
    """
    cutoff = utcnow() - older_than
    done: list[int] = []
    with services.db.session() as session:
        waiting = session.scalars(select(Study).where(
            Study.complete.is_(False), Study.source == "cstore", Study.received_at < cutoff).limit(200)).all()
        for study in waiting:
            try:
                settled = services.dicom_store.is_stable(str(study.study_instance_uid))
            except NotFound:
                continue
            if settled:
                _complete(services, session, study)
                done.append(study.id)
    return done


def sync_dicom_store(services: Services, batch: int = 100) -> SyncReport:
    """Read the DICOM store's change feed from the stored cursor to its end.

    Raises
    ------
    StorageUnavailable
        When the store cannot be reached; the cursor is left where it was.
    """
    report = SyncReport()
    with _lock:
        done = False
        while not done:
            with services.db.session() as session:
                cursor = session.get(SyncCursor, CURSOR) or SyncCursor(name=CURSOR, position=0)
                session.add(cursor)
                changes, last, done = services.dicom_store.study_changes(cursor.position, batch)
                for change in changes:
                    _apply(services, session, change, report)
                cursor.position = report.cursor = last
    if report.seen:
        logger.info("dicom store sync: %s", report)
    return report

"""The core side of a pre-read: what the worker may start, and recording what it found."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sharedcenter.audit import record_event
from sharedcenter.db.models import AIResult, AuditEvent, Study, utcnow
from sharedcenter.enums import AuditAction, StudyKind, StudyState
from sharedcenter.errors import NotFound
from sharedcenter.queue.base import TaskQueue, enqueue_after_commit
from sharedcenter.studies.state import transition

__all__ = ["MAX_PREREAD_STARTS", "PrereadJob", "begin_preread", "fail_preread", "queue_stale_studies", "record_preread"]

WORKER = "system:worker"
_RUNNABLE = (StudyState.RECEIVED.value, StudyState.PREREADING.value, StudyState.FAILED.value)
#: Unfinished starts after which a pre-read is given up: each one means the worker process died
#: during the work (out of memory, a segfault in a decoder), and retrying would loop for ever.
MAX_PREREAD_STARTS = 2
_OUTCOMES = (AuditAction.PREREAD_STORED.value, AuditAction.PREREAD_FAILED.value)


@dataclasses.dataclass(frozen=True, slots=True)
class PrereadJob:
    """What a worker needs to fetch a study's inputs: ids and keys, never objects."""

    study_id: int
    kind: StudyKind
    study_instance_uid: str | None
    ecg_record_key: str | None


def begin_preread(session: Session, study_id: int) -> PrereadJob | None:
    """Mark the study ``prereading`` and record a "pre-read started" mark before any work.

    None when it needs no pre-read (done, or being read already), or when
    :data:`MAX_PREREAD_STARTS` earlier starts never finished: each means the worker process died in
    the work, so the study is failed with that reason instead of being retried for ever.

    Raises
    ------
    NotFound
        No such study.
    """
    study = session.get(Study, study_id, with_for_update=True)
    if study is None:
        raise NotFound(f"no study {study_id}")
    if study.state not in _RUNNABLE:
        return None
    starts = _unfinished_starts(session, study_id)
    if study.state == StudyState.PREREADING.value and starts >= MAX_PREREAD_STARTS:
        fail_preread(session, study_id, f"the pre-read stopped the worker process {starts} times (out of memory "
                                        "or a crash in a decoder); given up, the study needs a specialist's read")
        return None
    if study.state != StudyState.PREREADING.value:
        transition(session, study, StudyState.PREREADING, WORKER)
    # the mark commits with the state before any work starts, so a process that dies leaves it behind
    record_event(session, WORKER, AuditAction.PREREAD_STARTED, "study", study_id, study_id=study_id,
                 detail={"attempt": starts + 1})
    return PrereadJob(study.id, StudyKind(study.kind), study.study_instance_uid, study.ecg_record_key)


def _unfinished_starts(session: Session, study_id: int) -> int:
    """Pre-read starts of the study since its last recorded outcome (stored or failed)."""
    last_outcome = session.scalar(select(func.max(AuditEvent.id)).where(
        AuditEvent.study_id == study_id, AuditEvent.action.in_(_OUTCOMES)))
    query = select(func.count()).select_from(AuditEvent).where(
        AuditEvent.study_id == study_id, AuditEvent.action == AuditAction.PREREAD_STARTED.value)
    if last_outcome is not None:
        query = query.where(AuditEvent.id > last_outcome)
    return int(session.scalar(query) or 0)


def record_preread(session: Session, study_id: int, result: dict[str, Any], queue: TaskQueue | None = None) -> AIResult:
    """Store a pre-read (the ``PrereadResult.to_json()`` form) and move the study to ``preread``.

    Idempotent: the same algorithm version stored twice keeps the first result.  A study that a
    specialist already took on keeps its state; the result is stored beside it.  A new result tells
    the site's webhooks (preliminary-ready, and critical-finding when it makes the study critical);
    they are sent on ``queue`` after commit, or by the pending sweep when no queue is given.  A
    study made critical also gets a ``study.critical_notified`` audit event naming the clinic, the
    reading center (whose worklist shows it first), the critical findings and the webhook deliveries.
    """
    study = session.get(Study, study_id, with_for_update=True)
    if study is None:
        raise NotFound(f"no study {study_id}")
    row = session.scalar(select(AIResult).where(
        AIResult.study_id == study_id, AIResult.algorithm == result["algorithm"],
        AIResult.algorithm_version == result["version"]))
    if row is None:
        row = AIResult(
            study_id=study_id, algorithm=result["algorithm"], algorithm_version=result["version"],
            parameters=result.get("parameters", {}), findings=result.get("findings", []),
            measurements=result.get("measurements", {}), timings=result.get("timings", {}),
            preliminary_text=result.get("preliminary_text", ""), critical=bool(result.get("critical")),
        )
        row.measurements = {**row.measurements, "preliminary_text_en": result.get("preliminary_text_en", "")}
        session.add(row)
        record_event(session, WORKER, AuditAction.PREREAD_STORED, "study", study_id, study_id=study_id,
                     detail={"algorithm": row.algorithm, "version": row.algorithm_version,
                             "critical": row.critical})
        session.flush()
        _notify_preread(session, queue, study, row)
    study.critical = study.critical or row.critical
    if study.state in _RUNNABLE:
        if study.state != StudyState.PREREADING.value:
            transition(session, study, StudyState.PREREADING, WORKER)
        transition(session, study, StudyState.PREREAD, WORKER)
    study.error = None
    session.flush()
    return row


def _notify_preread(session: Session, queue: TaskQueue | None, study: Study, row: AIResult) -> None:
    from sharedcenter.webhooks import WebhookEvent, emit_event

    data = {"study_id": study.id, "patient_id": study.patient_id, "ai_result_id": row.id,
            "algorithm": row.algorithm, "version": row.algorithm_version, "preliminary": True,
            "preliminary_text": row.preliminary_text, "critical": row.critical}
    emit_event(queue, session, study.site_code, WebhookEvent.PRELIMINARY_READY, data)
    if row.critical and not study.critical:
        critical = [f for f in row.findings if isinstance(f, dict) and f.get("critical")]
        deliveries = emit_event(queue, session, study.site_code, WebhookEvent.CRITICAL_FINDING,
                                {**data, "findings": critical})
        record_event(session, WORKER, AuditAction.STUDY_CRITICAL_NOTIFIED, "study", study.id, study_id=study.id,
                     detail={"site": study.site_code, "center": study.center_code,
                             "findings": [str(f.get("code")) for f in critical], "webhook_deliveries": deliveries})


def fail_preread(session: Session, study_id: int, reason: str) -> None:
    """Record that the pre-read gave up; the study stays on the worklist for a specialist."""
    study = session.get(Study, study_id, with_for_update=True)
    if study is None:
        return
    study.error = reason[:2000]
    record_event(session, WORKER, AuditAction.PREREAD_FAILED, "study", study_id, study_id=study_id,
                 detail={"reason": reason[:500]})
    if study.state in (StudyState.RECEIVED.value, StudyState.PREREADING.value):
        transition(session, study, StudyState.FAILED, WORKER, reason[:200])


def queue_stale_studies(session: Session, queue: TaskQueue, older_than: dt.timedelta) -> list[int]:
    """Queue again complete studies still waiting for a pre-read (a lost message, a crashed worker)."""
    cutoff = utcnow() - older_than
    stale = session.scalars(select(Study).where(
        Study.complete.is_(True),
        Study.state.in_([StudyState.RECEIVED.value, StudyState.PREREADING.value]),
        Study.updated_at < cutoff,
    ).limit(500)).all()
    for study in stale:
        study.updated_at = utcnow()
        enqueue_after_commit(session, queue, study.id, StudyKind(study.kind))
    return [s.id for s in stale]

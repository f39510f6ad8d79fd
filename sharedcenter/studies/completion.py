"""When a study is complete, and queueing its pre-read at once.

A study is complete when its sender declares it (the upload client, the township agent, STOW-RS),
when as many instances arrived as its order expects, or, for plain C-STORE without either, when
the DICOM store has heard nothing new for its quiet period (Orthanc's ``StableAge``).  Each queued
pre-read's audit event (``preread.queued``) says which of the three it was.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from sharedcenter.audit import record_event
from sharedcenter.db.models import Study
from sharedcenter.enums import AuditAction, PrereadReason, StudyKind, StudyState
from sharedcenter.queue.base import enqueue_after_commit
from sharedcenter.services import Services
from sharedcenter.studies.orders import complete_order

__all__ = ["expected_count_reached", "queue_complete"]

_QUEUEABLE = (StudyState.RECEIVED.value, StudyState.FAILED.value)


def expected_count_reached(study: Study) -> bool:
    """True when the study's order gives an expected instance count and that many have arrived."""
    order = study.order
    return (order is not None and order.expected_instances is not None
            and study.instance_count >= order.expected_instances)


def queue_complete(services: Services, session: Session, study: Study, actor: str, reason: PrereadReason) -> bool:
    """Mark the study complete, complete its order, and queue its pre-read (after commit) if it waits for one.

    Returns
    -------
    bool
        Whether a pre-read was queued (False when the study is being read or was read already).
    """
    study.complete = True
    if study.order is not None:
        complete_order(study.order)
    if study.state not in _QUEUEABLE:
        return False
    enqueue_after_commit(session, services.queue, study.id, StudyKind(study.kind))
    record_event(session, actor, AuditAction.PREREAD_QUEUED, "study", study.id, study_id=study.id,
                 detail={"reason": PrereadReason(reason).value, "instances": study.instance_count})
    return True

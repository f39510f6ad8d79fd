"""The task queue port, and enqueueing only after the database commit.

A task that ran before its study row was committed would find nothing; one enqueued for a
transaction that then rolled back would work on a ghost.  So services never send tasks directly:
they call :func:`enqueue_after_commit`, and the message leaves when the session commits.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

from sharedcenter.enums import StudyKind

__all__ = ["TaskQueue", "call_after_commit", "enqueue_after_commit"]

logger = logging.getLogger(__name__)
_PENDING = "sharedcenter.pending_tasks"


class TaskQueue(abc.ABC):
    """Sends work to the workers; implementations are adapters (Celery)."""

    @abc.abstractmethod
    def send_preread(self, study_id: int, kind: StudyKind) -> None:
        """Queue the pre-read of a study (idempotent on the worker side)."""

    def send_report_export(self, report_id: int) -> None:
        """Queue writing a signed report version into the DICOM store again (``cpu`` queue)."""
        raise NotImplementedError(f"{type(self).__name__} cannot queue report exports")

    def send_webhook(self, delivery_id: int, countdown: float = 0.0) -> None:
        """Queue one attempt of a webhook delivery, ``countdown`` seconds from now (``cpu`` queue)."""
        raise NotImplementedError(f"{type(self).__name__} cannot queue webhook deliveries")


def _flush_pending(session: Session) -> None:
    pending: list[tuple[TaskQueue, int, StudyKind]] = session.info.pop(_PENDING, [])
    for queue, study_id, kind in pending:
        try:
            queue.send_preread(study_id, kind)
        except Exception:  # the study stays 'received'; the stale sweep queues it again
            logger.exception("could not queue pre-read of study %s; the sweep will retry", study_id)


def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


def enqueue_after_commit(session: Session, queue: TaskQueue, study_id: int, kind: StudyKind) -> None:
    """Send the pre-read of ``study_id`` once ``session`` commits; drop it on rollback."""
    pending = session.info.setdefault(_PENDING, [])
    if not any(q is queue and s == study_id for q, s, _ in pending):
        pending.append((queue, study_id, kind))
    if not event.contains(session, "after_commit", _flush_pending):
        event.listen(session, "after_commit", _flush_pending)
        event.listen(session, "after_rollback", _drop_pending)


_CALLS = "sharedcenter.pending_calls"


def _run_calls(session: Session) -> None:
    calls: dict[str, Callable[[], None]] = session.info.pop(_CALLS, {})
    for key, call in calls.items():
        try:
            call()
        except Exception:  # the rows stay; their sweep or a later event sends them again
            logger.exception("could not send %s after commit", key)


def _drop_calls(session: Session) -> None:
    session.info.pop(_CALLS, None)


def call_after_commit(session: Session, key: str, call: Callable[[], None]) -> None:
    """Run ``call`` (e.g. sending a task) once ``session`` commits, once per ``key``; drop it on rollback."""
    session.info.setdefault(_CALLS, {})[key] = call
    if not event.contains(session, "after_commit", _run_calls):
        event.listen(session, "after_commit", _run_calls)
        event.listen(session, "after_rollback", _drop_calls)

"""The study state machine.

::

    received -> prereading -> preread -> in_review -> signed
        |            |           |           |
        +------------+--> failed +--> returned, escalated

A specialist may read a study whose AI pre-read has not finished or failed (AI never blocks an
urgent read); the pre-read result is then still stored, but the state does not move back.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from sharedcenter.audit import record_event
from sharedcenter.db.models import Study
from sharedcenter.enums import AuditAction
from sharedcenter.enums import StudyState as S
from sharedcenter.errors import InvalidTransition

__all__ = ["ALLOWED", "OPEN_STATES", "transition"]

ALLOWED: dict[S, frozenset[S]] = {
    S.RECEIVED: frozenset({S.PREREADING, S.IN_REVIEW, S.SIGNED, S.FAILED, S.RETURNED, S.ESCALATED}),
    S.PREREADING: frozenset({S.PREREAD, S.FAILED, S.RECEIVED, S.IN_REVIEW, S.SIGNED}),
    S.PREREAD: frozenset({S.IN_REVIEW, S.SIGNED, S.RETURNED, S.ESCALATED, S.PREREADING}),
    S.IN_REVIEW: frozenset({S.SIGNED, S.RETURNED, S.ESCALATED, S.PREREAD}),
    S.ESCALATED: frozenset({S.IN_REVIEW, S.SIGNED, S.RETURNED}),
    S.FAILED: frozenset({S.RECEIVED, S.PREREADING, S.IN_REVIEW, S.SIGNED, S.RETURNED}),
    S.RETURNED: frozenset({S.RECEIVED}),
    S.SIGNED: frozenset(),
}

#: states in which a study waits for a specialist
OPEN_STATES: tuple[S, ...] = (S.RECEIVED, S.PREREADING, S.PREREAD, S.IN_REVIEW, S.ESCALATED, S.FAILED)


def transition(session: Session, study: Study, new: S, actor: str, reason: str = "") -> None:
    """Move ``study`` to ``new`` and write the audit event.

    Raises
    ------
    InvalidTransition
        When the state machine does not allow the move.
    """
    old = S(study.state)
    if new not in ALLOWED[old]:
        raise InvalidTransition(f"study {study.id} is {old.value}; it cannot become {new.value}")
    study.state = new.value
    detail = {"from": old.value, "to": new.value}
    if reason:
        detail["reason"] = reason
    record_event(session, actor, AuditAction.STUDY_TRANSITION, "study", study.id, study_id=study.id,
                 detail=detail)

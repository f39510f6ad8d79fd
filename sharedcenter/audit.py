"""Audit trail: append-only events, each with the request's correlation id."""

from __future__ import annotations

import contextvars
from typing import Any

from sqlalchemy.orm import Session

from sharedcenter.db.models import AuditEvent
from sharedcenter.enums import AuditAction

__all__ = ["correlation_id", "record_event"]

#: Set by the API middleware per request and by the worker per task, so one id runs through both.
correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)


def record_event(
    session: Session,
    actor: str,
    action: AuditAction,
    entity: str,
    entity_id: object,
    *,
    study_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add one audit event to the session (it commits with the change it describes)."""
    event = AuditEvent(
        actor=actor,
        action=action.value,
        entity=entity,
        entity_id=str(entity_id),
        study_id=study_id,
        detail=detail or {},
        correlation_id=correlation_id.get(),
    )
    session.add(event)
    return event

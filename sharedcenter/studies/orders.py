"""Orders (申请单) and the service windows that set a study's due time."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from sharedcenter.config import Settings
from sharedcenter.db.models import Order, utcnow
from sharedcenter.enums import ExamType, Priority

__all__ = ["due_time", "exam_for_modality", "match_or_create_order"]

_IMAGING_CHEST = {"CR", "DX"}


def exam_for_modality(modality: str) -> ExamType:
    if modality.upper() == "ECG":
        return ExamType.ECG_12LEAD
    return ExamType.CHEST_XRAY if modality.upper() in _IMAGING_CHEST else ExamType.OTHER_IMAGING


def due_time(settings: Settings, priority: Priority, start: dt.datetime) -> dt.datetime:
    """When the read is due: routine 24 h, urgent and STAT in minutes (all configurable)."""
    window = {
        Priority.STAT: dt.timedelta(minutes=settings.stat_window_minutes),
        Priority.URGENT: dt.timedelta(minutes=settings.urgent_window_minutes),
        Priority.ROUTINE: dt.timedelta(hours=settings.routine_window_hours),
    }[priority]
    return start + window


def match_or_create_order(
    session: Session,
    settings: Settings,
    *,
    site_code: str,
    accession_number: str,
    patient_id: str,
    patient_name: str,
    exam: ExamType,
    priority: Priority = Priority.ROUTINE,
) -> Order:
    """The order this study answers: matched by AccessionNumber, else an order made for it."""
    if accession_number:
        order = session.scalar(select(Order).where(Order.accession_number == accession_number))
        if order is not None and order.site_code == site_code:
            return order
    now = utcnow()
    order = Order(
        accession_number=accession_number or None,
        patient_id=patient_id,
        patient_name=patient_name,
        site_code=site_code,
        exam=exam.value,
        priority=priority.value,
        requested_at=now,
        due_at=due_time(settings, priority, now),
    )
    if accession_number and session.scalar(select(Order).where(Order.accession_number == accession_number)):
        order.accession_number = None  # the number belongs to another site's order; keep theirs intact
    session.add(order)
    session.flush()
    return order

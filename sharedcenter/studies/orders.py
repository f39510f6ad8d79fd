"""Orders (申请单): matching a study to its order, order status, and the service windows that set due times."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sharedcenter.config import Settings
from sharedcenter.db import savepoint
from sharedcenter.db.models import Order, utcnow
from sharedcenter.enums import ExamType, OrderStatus, Priority

#: ``Order.created_by`` of an order made for a study that arrived without one.
ORDER_MADE_FOR_STUDY = "system:ingest"

__all__ = [
    "ORDER_MADE_FOR_STUDY",
    "OPEN_ORDER_STATES",
    "complete_order",
    "due_time",
    "exam_for_modality",
    "find_order",
    "local_day",
    "match_or_create_order",
    "start_order",
    "study_day",
]

#: orders a study may still answer
OPEN_ORDER_STATES = (OrderStatus.SCHEDULED.value, OrderStatus.IN_PROGRESS.value)

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


def local_day(settings: Settings, when: dt.datetime) -> dt.date:
    """The calendar day of ``when`` in the region's time zone (naive times are taken as UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(settings.tz).date()


def study_day(settings: Settings, study_date: str) -> dt.date:
    """The day a study was taken: its DICOM StudyDate (``YYYYMMDD``), else today in the region."""
    try:
        return dt.datetime.strptime(study_date.strip(), "%Y%m%d").date()
    except ValueError:
        return local_day(settings, utcnow())


def _by_accession(session: Session, site_code: str, accession_number: str) -> Order | None:
    return session.scalar(select(Order).where(Order.site_code == site_code,
                                              Order.accession_number == accession_number))


def _by_patient_day(session: Session, settings: Settings, site_code: str, patient_id: str, exam: ExamType,
                    day: dt.date, *, numbered: bool) -> Order | None:
    """A scheduled order of the site for this patient and exam on the study's local day.

    Only orders still waiting for their study count (one answered already, or made by ingest for a
    study, does not take another study without an accession number).  ``numbered`` allows orders
    that carry an accession number (a study without one may answer them); a study with its own,
    unknown, number only takes orders without one.
    """
    query = select(Order).where(Order.site_code == site_code, Order.patient_id == patient_id,
                                Order.exam == exam.value, Order.status == OrderStatus.SCHEDULED.value)
    if not numbered:
        query = query.where(Order.accession_number.is_(None))
    for order in session.scalars(query.order_by(Order.scheduled_at, Order.id)):
        if local_day(settings, order.scheduled_at or order.requested_at) == day:  # in Python: SQL has no zones
            return order
    return None


def find_order(session: Session, settings: Settings, *, site_code: str, accession_number: str, patient_id: str,
               exam: ExamType, study_date: str = "") -> Order | None:
    """The site's order a study answers: by AccessionNumber, else a scheduled order by PatientID + exam +
    the study's local day (StudyDate, else today in ``SHAREDCENTER_TIMEZONE``)."""
    if accession_number:
        order = _by_accession(session, site_code, accession_number)
        if order is not None:
            return order
    if not patient_id:
        return None
    return _by_patient_day(session, settings, site_code, patient_id, exam, study_day(settings, study_date),
                           numbered=not accession_number)


def start_order(order: Order) -> None:
    """A study arrived for the order: scheduled becomes in-progress (other states stay)."""
    if order.status == OrderStatus.SCHEDULED.value:
        order.status = OrderStatus.IN_PROGRESS.value


def complete_order(order: Order) -> None:
    """The order's study is complete: an open order becomes completed (a cancelled one stays so)."""
    if order.status in OPEN_ORDER_STATES:
        order.status = OrderStatus.COMPLETED.value


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
    modality: str = "",
    study_date: str = "",
) -> Order:
    """The order this study answers (now in progress), or an order made for it.

    Matching is :func:`find_order`.  Safe under concurrency: two studies with the same new
    AccessionNumber arriving at once make one order (the loser's insert is rolled back to a
    savepoint and the winner's order is read instead).
    """
    order = find_order(session, settings, site_code=site_code, accession_number=accession_number,
                       patient_id=patient_id, exam=exam, study_date=study_date)
    if order is None:
        order = _create_for_study(session, settings, site_code, accession_number, patient_id, patient_name, exam,
                                  priority, modality)
    start_order(order)
    return order


def _create_for_study(session: Session, settings: Settings, site_code: str, accession_number: str,
                      patient_id: str, patient_name: str, exam: ExamType, priority: Priority,
                      modality: str) -> Order:
    now = utcnow()
    order = Order(
        accession_number=accession_number or None, patient_id=patient_id, patient_name=patient_name,
        site_code=site_code, exam=exam.value, priority=priority.value, requested_at=now,
        due_at=due_time(settings, priority, now), status=OrderStatus.IN_PROGRESS.value,
        modality=modality.upper()[:16], created_by=ORDER_MADE_FOR_STUDY,
    )
    try:
        with savepoint(session):
            session.add(order)
            session.flush()
    except IntegrityError:
        # another transaction made the order for this accession number first (it has committed,
        # or our insert would still be waiting on its lock): take theirs
        winner = _by_accession(session, site_code, accession_number) if accession_number else None
        if winner is None:
            raise
        return winner
    return order

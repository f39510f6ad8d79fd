"""The worklist as DICOM: a Modality Worklist C-FIND identifier to a query on orders, and an order to
a worklist item.  No networking here (the pynetdicom adapter is :mod:`sharedcenter.mwl.server`).

Matching follows PS3.4 C.2.2.2: single value, wildcard (``*`` and ``?``) and date range matching;
an empty value is universal matching.  Person names match case-insensitively.  A response carries
the keys the request asked for (with the SPS sequence's own keys), plus Specific Character Set.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from pydicom import Dataset
from pydicom.dataelem import DataElement
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from sharedcenter.config import Settings
from sharedcenter.db.models import Order
from sharedcenter.enums import OrderStatus
from sharedcenter.errors import InvalidInput
from sharedcenter.orders import local_day_range

__all__ = ["WorklistQuery", "find_worklist", "order_study_uid", "parse_query", "worklist_item", "worklist_items"]

#: DICOM's Requested Procedure Priority for our order priorities
_PRIORITY = {"stat": "STAT", "urgent": "HIGH", "routine": "ROUTINE"}
_UTF8 = "ISO_IR 192"


@dataclasses.dataclass(frozen=True, slots=True)
class WorklistQuery:
    """The matching keys of one C-FIND request (None: universal matching)."""

    date_from: dt.date | None = None
    date_to: dt.date | None = None
    modality: str | None = None
    station_ae_title: str | None = None
    patient_id: str | None = None
    patient_name: str | None = None
    accession_number: str | None = None


def _value(ds: Dataset, keyword: str) -> str | None:
    value = ds.get(keyword)
    text = str(value).strip() if value is not None else ""
    return None if text in ("", "*") else text


def _date(text: str, keyword: str) -> dt.date:
    try:
        return dt.datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        raise InvalidInput(f"{keyword} {text!r} is not a DICOM date (YYYYMMDD) or range") from None


def _date_range(text: str | None) -> tuple[dt.date | None, dt.date | None]:
    """``D``, ``D1-D2``, ``-D2`` or ``D1-`` (PS3.4 C.2.2.2.5)."""
    if text is None:
        return None, None
    keyword = "ScheduledProcedureStepStartDate"
    if "-" not in text:
        day = _date(text, keyword)
        return day, day
    first, _, last = text.partition("-")
    start = _date(first, keyword) if first else None
    end = _date(last, keyword) if last else None
    if start and end and start > end:
        raise InvalidInput(f"{keyword} range {text!r} ends before it starts")
    return start, end


def parse_query(identifier: Dataset) -> WorklistQuery:
    """The matching keys of a Modality Worklist C-FIND identifier.

    Raises
    ------
    InvalidInput
        A malformed ScheduledProcedureStepStartDate.
    """
    sps_seq = identifier.get("ScheduledProcedureStepSequence")
    sps = sps_seq[0] if sps_seq else Dataset()
    start, end = _date_range(_value(sps, "ScheduledProcedureStepStartDate"))
    modality = _value(sps, "Modality")
    return WorklistQuery(
        date_from=start, date_to=end, modality=modality.upper() if modality else None,
        station_ae_title=_value(sps, "ScheduledStationAETitle"), patient_id=_value(identifier, "PatientID"),
        patient_name=_value(identifier, "PatientName"), accession_number=_value(identifier, "AccessionNumber"),
    )


def _like(column: Any, pattern: str, *, fold_case: bool = False) -> ColumnElement[bool]:
    """DICOM wildcard matching as SQL LIKE (``*`` -> ``%``, ``?`` -> ``_``; LIKE's own signs escaped).

    Hand-written: a dozen lines; no library maps DICOM wildcards to SQL.
    """
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    like = escaped.replace("*", "%").replace("?", "_")
    if fold_case:
        return func.lower(column).like(like.lower(), escape="\\")
    if like == escaped:
        return column == pattern  # type: ignore[no-any-return]
    return column.like(like, escape="\\")  # type: ignore[no-any-return]


def find_worklist(session: Session, settings: Settings, site_code: str, query: WorklistQuery,
                  limit: int = 1000) -> list[Order]:
    """The site's scheduled orders that match ``query``, in scheduled order."""
    stmt = select(Order).where(Order.site_code == site_code, Order.status == OrderStatus.SCHEDULED.value)
    if query.date_from is not None:
        stmt = stmt.where(Order.scheduled_at >= local_day_range(settings, query.date_from)[0])
    if query.date_to is not None:
        stmt = stmt.where(Order.scheduled_at < local_day_range(settings, query.date_to)[1])
    if query.modality:
        stmt = stmt.where(_like(Order.modality, query.modality))
    if query.station_ae_title:
        stmt = stmt.where(_like(Order.station_ae_title, query.station_ae_title))
    if query.patient_id:
        stmt = stmt.where(_like(Order.patient_id, query.patient_id))
    if query.patient_name:
        stmt = stmt.where(_like(Order.patient_name, query.patient_name, fold_case=True))
    if query.accession_number:
        stmt = stmt.where(_like(Order.accession_number, query.accession_number))
    return list(session.scalars(stmt.order_by(Order.scheduled_at, Order.id).limit(limit)))


def order_study_uid(settings: Settings, order: Order) -> str:
    """The StudyInstanceUID the modality should use for the order: stable for the order, unique per deployment."""
    return str(generate_uid(entropy_srcs=["sharedcenter-order", settings.public_url, str(order.id)]))


def _full_item(settings: Settings, order: Order) -> Dataset:
    when = (order.scheduled_at or order.requested_at).astimezone(settings.tz)
    sps = Dataset()
    sps.Modality = order.modality
    sps.ScheduledStationAETitle = order.station_ae_title or ""
    sps.ScheduledProcedureStepStartDate = when.strftime("%Y%m%d")
    sps.ScheduledProcedureStepStartTime = when.strftime("%H%M%S")
    sps.ScheduledPerformingPhysicianName = ""
    sps.ScheduledProcedureStepDescription = order.procedure_description
    sps.ScheduledProcedureStepID = str(order.id)
    sps.ScheduledProcedureStepStatus = "SCHEDULED"
    ds = Dataset()
    ds.SpecificCharacterSet = _UTF8
    ds.AccessionNumber = order.accession_number or ""
    ds.ReferringPhysicianName = ""
    ds.PatientName = order.patient_name
    ds.PatientID = order.patient_id
    ds.PatientBirthDate = order.patient_birth_date.strftime("%Y%m%d") if order.patient_birth_date else ""
    ds.PatientSex = order.patient_sex
    ds.StudyInstanceUID = order_study_uid(settings, order)
    ds.RequestedProcedureID = str(order.id)
    ds.RequestedProcedureDescription = order.procedure_description
    ds.RequestedProcedurePriority = _PRIORITY.get(order.priority, "ROUTINE")
    ds.ScheduledProcedureStepSequence = Sequence([sps])
    return ds


def _project(full: Dataset, requested: Dataset) -> Dataset:
    """The elements of ``full`` that ``requested`` names (asked-for elements we lack come back empty)."""
    out = Dataset()
    for elem in requested:
        if elem.tag == 0x00080005:  # SpecificCharacterSet: ours is set below
            continue
        have = full.get(elem.tag)
        if have is None:
            out.add(DataElement(elem.tag, elem.VR, None))
        elif elem.VR == "SQ" and elem.value and have.VR == "SQ":
            out.add(DataElement(elem.tag, "SQ", Sequence([_project(item, elem.value[0]) for item in have.value])))
        else:
            out.add(have)
    out.SpecificCharacterSet = _UTF8
    return out


def worklist_item(settings: Settings, order: Order, requested: Dataset | None = None) -> Dataset:
    """The order as a Modality Worklist item: every attribute, or only those ``requested`` names."""
    full = _full_item(settings, order)
    return full if requested is None else _project(full, requested)


def worklist_items(session: Session, settings: Settings, site_code: str, identifier: Dataset) -> list[Dataset]:
    """Answer one C-FIND identifier for ``site_code``: the matching items, projected on its keys.

    Raises
    ------
    InvalidInput
        The identifier's matching keys are malformed.
    """
    query = parse_query(identifier)
    return [worklist_item(settings, order, identifier) for order in find_worklist(session, settings, site_code, query)]

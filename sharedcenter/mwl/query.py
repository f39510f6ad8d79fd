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


def _values(settings: Settings, order: Order) -> dict[str, Any]:
    """Every attribute of the order's worklist item by keyword (the SPS sequence as a nested dict)."""
    when = (order.scheduled_at or order.requested_at).astimezone(settings.tz)
    sps = {
        "Modality": order.modality, "ScheduledStationAETitle": order.station_ae_title or "",
        "ScheduledProcedureStepStartDate": when.strftime("%Y%m%d"),
        "ScheduledProcedureStepStartTime": when.strftime("%H%M%S"), "ScheduledPerformingPhysicianName": "",
        "ScheduledProcedureStepDescription": order.procedure_description,
        "ScheduledProcedureStepID": str(order.id), "ScheduledProcedureStepStatus": "SCHEDULED",
    }
    return {
        "AccessionNumber": order.accession_number or "", "ReferringPhysicianName": "",
        "PatientName": order.patient_name, "PatientID": order.patient_id,
        "PatientBirthDate": order.patient_birth_date.strftime("%Y%m%d") if order.patient_birth_date else "",
        "PatientSex": order.patient_sex, "StudyInstanceUID": order_study_uid(settings, order),
        "RequestedProcedureID": str(order.id), "RequestedProcedureDescription": order.procedure_description,
        "RequestedProcedurePriority": _PRIORITY.get(order.priority, "ROUTINE"),
        "ScheduledProcedureStepSequence": sps,
    }


def _build(values: dict[str, Any], requested: Dataset | None) -> Dataset:
    """A dataset of ``values``: all of them, or those ``requested`` names (asked-for ones we lack come
    back empty).  Only what is returned is built: most of a C-FIND's time is making datasets."""
    out = Dataset()
    wanted = list(values) if requested is None else [e for e in requested if e.tag != 0x00080005]
    for item in wanted:
        keyword = item if isinstance(item, str) else item.keyword
        value = values.get(keyword)
        if isinstance(value, dict):
            asked = None if isinstance(item, str) or not item.value else item.value[0]
            setattr(out, keyword, Sequence([_build(value, asked)]))
        elif value is not None:
            setattr(out, keyword, value)
        elif not isinstance(item, str):
            out.add(DataElement(item.tag, item.VR, None))
    return out


def worklist_item(settings: Settings, order: Order, requested: Dataset | None = None) -> Dataset:
    """The order as a Modality Worklist item: every attribute, or only those ``requested`` names."""
    item = _build(_values(settings, order), requested)
    item.SpecificCharacterSet = _UTF8
    return item


def worklist_items(session: Session, settings: Settings, site_code: str, identifier: Dataset) -> list[Dataset]:
    """Answer one C-FIND identifier for ``site_code``: the matching items, projected on its keys.

    Raises
    ------
    InvalidInput
        The identifier's matching keys are malformed.
    """
    query = parse_query(identifier)
    return [worklist_item(settings, order, identifier) for order in find_worklist(session, settings, site_code, query)]

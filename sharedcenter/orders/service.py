"""Placing, listing and cancelling orders (申请单) for the DICOM Modality Worklist.

A technician orders for their own site, an admin for any site.  Every rule below raises
:class:`~sharedcenter.errors.InvalidInput` naming the field, before anything is stored.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from sharedcenter.audit import record_event
from sharedcenter.auth import Principal
from sharedcenter.config import Settings
from sharedcenter.db.models import Order, Site, utcnow
from sharedcenter.enums import AuditAction, OrderStatus, Priority, Role
from sharedcenter.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from sharedcenter.studies.orders import due_time, exam_for_modality

__all__ = ["MODALITIES", "OrderRequest", "cancel_order", "create_order", "get_visible_order", "list_orders",
           "local_day_range"]

#: modalities a township orders for (DICOM defined terms); ECG carts take orders too
MODALITIES = frozenset({"CR", "DX", "CT", "MR", "US", "MG", "RF", "XA", "ECG"})
_SEXES = frozenset({"", "M", "F", "O"})
_MAX_EXPECTED = 10_000


@dataclasses.dataclass(frozen=True, slots=True)
class OrderRequest:
    """What a technician fills in; ``scheduled_at`` without a zone is local time (``SHAREDCENTER_TIMEZONE``)."""

    site_code: str
    patient_id: str
    patient_name: str
    modality: str
    scheduled_at: dt.datetime | None = None
    accession_number: str | None = None
    station_ae_title: str | None = None
    patient_birth_date: dt.date | None = None
    patient_sex: str = ""
    procedure_description: str = ""
    expected_instances: int | None = None
    priority: Priority | str = Priority.ROUTINE
    clinical_question: str = ""


def _text(field: str, value: str, max_len: int, *, required: bool = False) -> str:
    """A DICOM-safe string: no backslash (the value separator) or control characters, within ``max_len``."""
    value = value.strip()
    if required and not value:
        raise InvalidInput(f"{field} is required")
    if len(value) > max_len:
        raise InvalidInput(f"{field} has {len(value)} characters; at most {max_len} are allowed")
    if "\\" in value or any(ord(c) < 32 for c in value):
        raise InvalidInput(f"{field} may not contain a backslash or control characters")
    return value


def _checked(settings: Settings, req: OrderRequest) -> dict[str, object]:
    modality = req.modality.strip().upper()
    if modality not in MODALITIES:
        raise InvalidInput(f"modality {req.modality!r} is not one of {', '.join(sorted(MODALITIES))}")
    try:
        priority = Priority(req.priority)
    except ValueError:
        raise InvalidInput(f"priority {req.priority!r} is not one of {', '.join(p.value for p in Priority)}") from None
    sex = req.patient_sex.strip().upper()
    if sex not in _SEXES:
        raise InvalidInput(f"patient_sex {req.patient_sex!r} is not one of M, F, O (or empty)")
    today = utcnow().astimezone(settings.tz).date()
    if req.patient_birth_date is not None and req.patient_birth_date > today:
        raise InvalidInput(f"patient_birth_date {req.patient_birth_date} is in the future")
    if req.expected_instances is not None and not 1 <= req.expected_instances <= _MAX_EXPECTED:
        raise InvalidInput(f"expected_instances {req.expected_instances} must be between 1 and {_MAX_EXPECTED}")
    scheduled = req.scheduled_at or utcnow()
    if scheduled.tzinfo is None:
        scheduled = scheduled.replace(tzinfo=settings.tz)
    return {
        "patient_id": _text("patient_id", req.patient_id, 64, required=True),
        "patient_name": _text("patient_name", req.patient_name, 64, required=True),
        "accession_number": _text("accession_number", req.accession_number or "", 16) or None,
        "station_ae_title": _text("station_ae_title", req.station_ae_title or "", 16) or None,
        "procedure_description": _text("procedure_description", req.procedure_description, 64),
        "clinical_question": _text("clinical_question", req.clinical_question, 2000),
        "modality": modality, "exam": exam_for_modality(modality).value, "priority": priority.value,
        "patient_sex": sex, "patient_birth_date": req.patient_birth_date,
        "expected_instances": req.expected_instances, "scheduled_at": scheduled.astimezone(dt.UTC),
    }


def create_order(session: Session, settings: Settings, principal: Principal, req: OrderRequest) -> Order:
    """Place an order on the site's worklist (status ``scheduled``).

    Raises
    ------
    PermissionDenied
        The caller is not a technician of the site nor an admin.
    NotFound
        No active site ``req.site_code``.
    InvalidInput
        A field breaks its rule; the message names it.
    Conflict
        The site already has an order with this accession number.
    """
    principal.require_site(req.site_code)
    site = session.get(Site, req.site_code)
    if site is None or not site.active:
        raise NotFound(f"no active site {req.site_code!r}")
    fields = _checked(settings, req)
    accession = fields["accession_number"]
    if accession and session.scalar(select(Order.id).where(Order.site_code == site.code,
                                                           Order.accession_number == accession)):
        raise Conflict(f"accession_number {accession!r} is already used by an order of site {site.code}")
    now = utcnow()
    order = Order(site_code=site.code, status=OrderStatus.SCHEDULED.value, requested_at=now,
                  due_at=due_time(settings, Priority(str(fields["priority"])), now), created_by=principal.actor,
                  **fields)
    session.add(order)
    session.flush()
    record_event(session, principal.actor, AuditAction.ORDER_CREATED, "order", order.id,
                 detail={"site_code": site.code, "accession_number": accession, "modality": fields["modality"]})
    return order


def _scope(principal: Principal, query: Select[Any]) -> Select[Any]:
    if principal.sees_everything:
        return query
    if principal.role is Role.TECHNICIAN:
        return query.where(Order.site_code == principal.site_code)
    if principal.reads_kind() is not None:
        own = select(Site.code).where((Site.imaging_center_code == principal.center_code)
                                      | (Site.ecg_center_code == principal.center_code))
        return query.where(Order.site_code.in_(own))
    raise PermissionDenied(f"{principal.username} ({principal.role}) may not see orders")


def local_day_range(settings: Settings, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The UTC instants where the local ``day`` starts and the next one starts."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=settings.tz)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=settings.tz)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def list_orders(
    session: Session, settings: Settings, principal: Principal, *, site_code: str | None = None,
    status: OrderStatus | str | None = None, day: dt.date | None = None, modality: str | None = None,
    limit: int = 100, offset: int = 0,
) -> list[Order]:
    """Orders the caller may see (a technician: their site; a specialist: their center's sites; admin,
    QC: all), filtered, in scheduled order."""
    query = _scope(principal, select(Order))
    if site_code:
        query = query.where(Order.site_code == site_code)
    if status:
        try:
            query = query.where(Order.status == OrderStatus(status).value)
        except ValueError:
            raise InvalidInput(f"status {status!r} is not one of {', '.join(s.value for s in OrderStatus)}") from None
    if day is not None:
        start, end = local_day_range(settings, day)
        query = query.where(Order.scheduled_at >= start, Order.scheduled_at < end)
    if modality:
        query = query.where(Order.modality == modality.strip().upper())
    query = query.order_by(Order.scheduled_at, Order.id).limit(min(max(limit, 1), 500)).offset(max(offset, 0))
    return list(session.scalars(query))


def get_visible_order(session: Session, principal: Principal, order_id: int) -> Order:
    """The order, if the caller may see it (else NotFound)."""
    order: Order | None = session.scalar(_scope(principal, select(Order).where(Order.id == order_id)))
    if order is None:
        raise NotFound(f"no order {order_id}")
    return order


def cancel_order(session: Session, principal: Principal, order_id: int, reason: str = "") -> Order:
    """Take a scheduled order off the worklist; cancelling a cancelled order changes nothing.

    Raises
    ------
    NotFound
        No such order visible to the caller.
    PermissionDenied
        The caller may see the order but not act for its site.
    Conflict
        A study already arrived for it (in progress or completed).
    """
    order = get_visible_order(session, principal, order_id)
    principal.require_site(order.site_code)
    if order.status == OrderStatus.CANCELLED.value:
        return order
    if order.status != OrderStatus.SCHEDULED.value:
        raise Conflict(f"order {order_id} is {order.status}: a study arrived for it, it cannot be cancelled")
    order.status = OrderStatus.CANCELLED.value
    record_event(session, principal.actor, AuditAction.ORDER_CANCELLED, "order", order.id,
                 detail={"reason": _text("reason", reason, 500)})
    return order

"""Orders: place one for a site's worklist, list them, cancel one."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from sharedcenter.api.deps import CurrentUser, ServicesDep
from sharedcenter.db.models import Order
from sharedcenter.enums import OrderStatus, Priority
from sharedcenter.errors import InvalidInput
from sharedcenter.orders import OrderRequest, cancel_order, create_order, list_orders

__all__ = ["OrderIn", "OrderOut", "order_out", "router"]

router = APIRouter(prefix="/api/orders", tags=["orders"])


class OrderIn(BaseModel):
    """An order; ``site`` defaults to a technician's own site, ``scheduled_at`` without a zone is local time."""

    site: str | None = Field(default=None, max_length=64)
    patient_id: str = Field(min_length=1, max_length=64)
    patient_name: str = Field(min_length=1, max_length=64)
    modality: str = Field(min_length=1, max_length=16)
    scheduled_at: dt.datetime | None = None
    accession_number: str | None = Field(default=None, max_length=16)
    station_ae_title: str | None = Field(default=None, max_length=16)
    patient_birth_date: dt.date | None = None
    patient_sex: str = Field(default="", max_length=1)
    procedure_description: str = Field(default="", max_length=64)
    expected_instances: int | None = Field(default=None, ge=1, le=10_000)
    priority: Priority = Priority.ROUTINE
    clinical_question: str = Field(default="", max_length=2000)


class OrderOut(BaseModel):
    id: int
    site_code: str
    status: str
    accession_number: str | None
    patient_id: str
    patient_name: str
    patient_birth_date: dt.date | None
    patient_sex: str
    modality: str
    exam: str
    scheduled_at: dt.datetime | None
    station_ae_title: str | None
    procedure_description: str
    expected_instances: int | None
    priority: str
    due_at: dt.datetime
    created_by: str


class CancelIn(BaseModel):
    reason: str = Field(default="", max_length=500)


def order_out(order: Order) -> OrderOut:
    return OrderOut(
        id=order.id, site_code=order.site_code, status=order.status, accession_number=order.accession_number,
        patient_id=order.patient_id, patient_name=order.patient_name, patient_birth_date=order.patient_birth_date,
        patient_sex=order.patient_sex, modality=order.modality, exam=order.exam, scheduled_at=order.scheduled_at,
        station_ae_title=order.station_ae_title, procedure_description=order.procedure_description,
        expected_instances=order.expected_instances, priority=order.priority, due_at=order.due_at,
        created_by=order.created_by,
    )


@router.post("", status_code=201)
def place_order(body: OrderIn, request: Request, principal: CurrentUser, services: ServicesDep) -> OrderOut:
    """Put an order on the site's worklist (technicians for their own site, admin for any)."""
    site = body.site or principal.site_code
    if not site:
        raise InvalidInput("site is required (say which site the order is for)")
    fields = body.model_dump(exclude={"site"})
    with services.db.session() as session:
        order = create_order(session, services.settings, principal, OrderRequest(site_code=site, **fields))
        out = order_out(order)
    if out.expected_instances is not None:
        request.app.state.sync_wakeup.set()  # the catch-up loop starts counting this order's instances now
    return out


@router.get("")
def get_orders(
    principal: CurrentUser, services: ServicesDep, site: str | None = None, status: OrderStatus | None = None,
    date: dt.date | None = Query(None, description="scheduled on this local day (YYYY-MM-DD)"),
    modality: str | None = None, limit: int = Query(100, ge=1, le=500), offset: int = Query(0, ge=0),
) -> list[OrderOut]:
    """Orders the caller may see, in scheduled order."""
    with services.db.session() as session:
        rows = list_orders(session, services.settings, principal, site_code=site, status=status, day=date,
                           modality=modality, limit=limit, offset=offset)
        return [order_out(o) for o in rows]


@router.post("/{order_id}/cancel")
def cancel(order_id: int, principal: CurrentUser, services: ServicesDep, body: CancelIn | None = None) -> OrderOut:
    """Take a scheduled order off the worklist (409 once a study arrived for it)."""
    with services.db.session() as session:
        return order_out(cancel_order(session, principal, order_id, body.reason if body else ""))

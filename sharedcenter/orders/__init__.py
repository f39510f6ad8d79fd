"""Orders (申请单): placing, listing and cancelling them; matching studies lives in ``studies.orders``."""

from sharedcenter.orders.service import (
    MODALITIES,
    OrderRequest,
    cancel_order,
    create_order,
    get_visible_order,
    list_orders,
    local_day_range,
)

__all__ = [
    "MODALITIES",
    "OrderRequest",
    "cancel_order",
    "create_order",
    "get_visible_order",
    "list_orders",
    "local_day_range",
]

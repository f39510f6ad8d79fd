"""The DICOM Modality Worklist: scheduled orders served to modalities by C-FIND, so technicians
don't retype patient data.  ``query`` is the DICOM-side logic, ``server`` the pynetdicom adapter."""

from sharedcenter.mwl.query import (
    WorklistQuery,
    find_worklist,
    order_study_uid,
    parse_query,
    worklist_item,
    worklist_items,
)

__all__ = [
    "WorklistQuery",
    "WorklistServer",
    "find_worklist",
    "order_study_uid",
    "parse_query",
    "worklist_item",
    "worklist_items",
]


def __getattr__(name: str) -> object:
    # the pynetdicom adapter loads only when asked for, so the core can use the query side alone
    if name == "WorklistServer":
        from sharedcenter.mwl.server import WorklistServer

        return WorklistServer
    raise AttributeError(name)

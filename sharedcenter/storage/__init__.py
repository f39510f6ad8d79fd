"""Storage ports (DICOM store, object store) and their adapters, picked by settings."""

from sharedcenter.storage.base import (
    DicomStore,
    InstanceUids,
    ObjectStore,
    PendingStores,
    StoredInstance,
    StudyChange,
    check_key,
)
from sharedcenter.storage.registry import dicom_store_from_settings, object_store_from_settings

__all__ = [
    "DicomStore",
    "InstanceUids",
    "ObjectStore",
    "PendingStores",
    "StoredInstance",
    "StudyChange",
    "check_key",
    "dicom_store_from_settings",
    "object_store_from_settings",
]

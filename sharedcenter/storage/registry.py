"""Pick the storage adapters named in the settings; an unknown name fails at start-up."""

from __future__ import annotations

from collections.abc import Callable

from sharedcenter.config import Settings
from sharedcenter.errors import ImproperlyConfigured
from sharedcenter.storage.base import DicomStore, ObjectStore

__all__ = ["DICOM_STORES", "OBJECT_STORES", "dicom_store_from_settings", "object_store_from_settings"]


def _folder_dicom(s: Settings) -> DicomStore:
    from sharedcenter.storage.folder import FolderDicomStore

    assert s.dicom_folder is not None
    return FolderDicomStore(s.dicom_folder)


def _orthanc(s: Settings) -> DicomStore:
    from sharedcenter.storage.orthanc import OrthancDicomStore

    return OrthancDicomStore(s.orthanc_url, s.orthanc_user, s.orthanc_password, timeout=s.orthanc_timeout_s)


def _folder_objects(s: Settings) -> ObjectStore:
    from sharedcenter.storage.folder import FolderObjectStore

    assert s.object_folder is not None
    return FolderObjectStore(s.object_folder)


def _minio(s: Settings) -> ObjectStore:
    from sharedcenter.storage.minio import MinioObjectStore

    return MinioObjectStore(
        s.s3_endpoint, s.s3_access_key, s.s3_secret_key, s.s3_bucket, secure=s.s3_secure, region=s.s3_region
    )


DICOM_STORES: dict[str, Callable[[Settings], DicomStore]] = {"folder": _folder_dicom, "orthanc": _orthanc}
OBJECT_STORES: dict[str, Callable[[Settings], ObjectStore]] = {"folder": _folder_objects, "minio": _minio}


def dicom_store_from_settings(settings: Settings) -> DicomStore:
    try:
        factory = DICOM_STORES[settings.dicom_store]
    except KeyError:
        raise ImproperlyConfigured(
            f"SHAREDCENTER_DICOM_STORE={settings.dicom_store!r}; choose one of {sorted(DICOM_STORES)}"
        ) from None
    return factory(settings)


def object_store_from_settings(settings: Settings) -> ObjectStore:
    try:
        factory = OBJECT_STORES[settings.object_store]
    except KeyError:
        raise ImproperlyConfigured(
            f"SHAREDCENTER_OBJECT_STORE={settings.object_store!r}; choose one of {sorted(OBJECT_STORES)}"
        ) from None
    return factory(settings)

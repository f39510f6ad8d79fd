"""Embedded adapters: a folder as DICOM store and a folder as object store."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

from sharedcenter.errors import InvalidInput, NotFound, StorageError
from sharedcenter.storage.base import DicomStore, InstanceUids, ObjectStore, StoredInstance, check_key

__all__ = ["FolderDicomStore", "FolderObjectStore"]


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _safe_uid(value: object, what: str) -> str:
    uid = str(value or "").strip()
    if not uid or len(uid) > 64 or not all(c.isdigit() or c == "." for c in uid):
        raise InvalidInput(f"DICOM {what} {uid!r} is not a valid UID")
    return uid


class FolderDicomStore(DicomStore):
    """DICOM instances as files ``ROOT/<study>/<series>/<sop>.dcm``."""

    name = "folder"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def store(self, data: bytes, uids: InstanceUids | None = None) -> StoredInstance:
        if uids is None:
            try:
                ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
            except (InvalidDicomError, EOFError, ValueError, TypeError) as exc:
                raise InvalidInput(f"not a DICOM Part 10 file: {exc}") from exc
            uids = (str(ds.get("StudyInstanceUID", "")), str(ds.get("SeriesInstanceUID", "")),
                    str(ds.get("SOPInstanceUID", "")))
        study = _safe_uid(uids[0], "StudyInstanceUID")
        series = _safe_uid(uids[1], "SeriesInstanceUID")
        sop = _safe_uid(uids[2], "SOPInstanceUID")
        rel = f"{study}/{series}/{sop}.dcm"
        path = self.root / rel
        if path.exists():
            return StoredInstance(study, series, sop, rel, new=False)
        try:
            _atomic_write(path, data)
        except OSError as exc:
            raise StorageError(f"cannot write {path}: {exc}") from exc
        return StoredInstance(study, series, sop, rel, new=True)

    def instance_ids(self, study_instance_uid: str) -> list[str]:
        study_dir = self.root / _safe_uid(study_instance_uid, "StudyInstanceUID")
        if not study_dir.is_dir():
            return []
        return sorted(p.relative_to(self.root).as_posix() for p in study_dir.glob("*/*.dcm"))

    def fetch(self, store_id: str) -> bytes:
        path = self.root / check_key(store_id)
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise NotFound(f"no DICOM instance {store_id!r} in {self.root}") from exc


class FolderObjectStore(ObjectStore):
    """Objects as files under a root folder, written atomically."""

    name = "folder"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        try:
            _atomic_write(self._path(key), data)
        except OSError as exc:
            raise StorageError(f"cannot write object {key!r}: {exc}") from exc

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise NotFound(f"no object {key!r}") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError as exc:
            raise NotFound(f"no object {key!r}") from exc

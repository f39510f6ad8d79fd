"""A small HTTP client of the sharedcenter API (used by ``sharedcenter upload`` and the demo)."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import io
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import httpx
import pydicom
from pydicom.errors import InvalidDicomError

from sharedcenter.ecg.detect import detect_format, wfdb_signal_files
from sharedcenter.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    SharedCenterError,
    StorageUnavailable,
    UnsupportedFormat,
    UploadTooLarge,
)

__all__ = ["ApiClient", "UploadBatch", "plan_upload"]

_BATCH_BYTES = 32 * 1024 * 1024
_HEAD_BYTES = 1024 * 1024
_BATCH_FILES = 64
_ERRORS: dict[int, type[SharedCenterError]] = {
    401: AuthenticationFailed, 403: PermissionDenied, 404: NotFound, 409: Conflict, 413: UploadTooLarge,
    422: InvalidInput, 503: StorageUnavailable,
}


@dataclasses.dataclass(slots=True)
class UploadBatch:
    """Files sent in one request; ``complete`` declares the study finished with this batch.

    Batches of one ``group`` (a DICOM study, or one ECG record) are sent in order.
    """

    paths: list[Path]
    complete: bool
    group: str = ""

    @property
    def size(self) -> int:
        return sum(p.stat().st_size for p in self.paths)


def _expand(paths: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        elif path.is_file():
            out.append(path)
        else:
            raise InvalidInput(f"{path}: no such file or folder")
    return out


def _study_uid(path: Path, head: bytes) -> str:
    """The StudyInstanceUID, from the file's first bytes when the header fits in them."""
    try:
        source = io.BytesIO(head) if len(head) < _HEAD_BYTES else path
        return str(pydicom.dcmread(source, stop_before_pixels=True, specific_tags=["StudyInstanceUID"])
                   .get("StudyInstanceUID", ""))
    except (InvalidDicomError, OSError, EOFError, ValueError) as exc:
        raise InvalidInput(f"{path}: not a readable DICOM file ({exc})") from exc


def plan_upload(paths: Iterable[Path]) -> list[UploadBatch]:
    """Group files into requests: an ECG record's files together; a DICOM study in batches whose last
    one declares it complete.  Files of unknown format are refused before anything is sent."""
    files = _expand(paths)
    by_name = {p.name: p for p in files}
    studies: dict[str, list[Path]] = {}
    batches: list[UploadBatch] = []
    used: set[Path] = set()
    for path in files:
        head = _head(path)
        kind = detect_format(path.name, head)
        if kind == "dicom":
            studies.setdefault(_study_uid(path, head), []).append(path)
            used.add(path)
        elif kind in ("zip", "hl7-aecg", "scp-ecg"):
            used.add(path)
            batches.append(UploadBatch([path], complete=True, group=f"ecg:{path}"))
        elif kind == "wfdb-header":
            group = [path] + [_signal(by_name, path, name) for name in wfdb_signal_files(path.read_bytes())]
            used.update(group)
            batches.append(UploadBatch(group, complete=True, group=f"ecg:{path}"))
    unknown = [str(p) for p in files if p not in used]
    if unknown:
        raise UnsupportedFormat(f"not DICOM nor a known ECG format: {', '.join(unknown)}")
    for uid, study_files in studies.items():
        batches += _batches(study_files, uid)
    return batches


def _head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(_HEAD_BYTES)


def _signal(by_name: dict[str, Path], header: Path, name: str) -> Path:
    if name not in by_name:
        raise InvalidInput(f"WFDB record {header} needs signal file {name!r}, not given")
    return by_name[name]


def _batches(files: list[Path], group: str) -> list[UploadBatch]:
    out: list[UploadBatch] = []
    current: list[Path] = []
    size = 0
    for path in files:
        if current and (len(current) >= _BATCH_FILES or size + path.stat().st_size > _BATCH_BYTES):
            out.append(UploadBatch(current, complete=False, group=group))
            current, size = [], 0
        current.append(path)
        size += path.stat().st_size
    out.append(UploadBatch(current, complete=True, group=group))
    return out


class ApiClient:
    """Talks to one sharedcenter server with a bearer token."""

    def __init__(self, base_url: str, token: str | None = None, *, timeout: float = 120.0) -> None:
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"

    def close(self) -> None:
        self.http.close()

    def _check(self, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise _ERRORS.get(response.status_code, SharedCenterError)(f"HTTP {response.status_code}: {detail}")
        return response.json()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            return self._check(self.http.request(method, path, **kwargs))
        except httpx.TransportError as exc:
            raise StorageUnavailable(f"cannot reach {self.http.base_url}: {exc}") from exc

    def login(self, username: str, password: str) -> dict[str, Any]:
        body: dict[str, Any] = self.request("POST", "/api/auth/login",
                                            json={"username": username, "password": password})
        self.http.headers["Authorization"] = f"Bearer {body['token']}"
        return body

    def upload(self, batch: UploadBatch, site: str | None = None) -> list[dict[str, Any]]:
        parts = [("files", (p.name, io.BytesIO(p.read_bytes()), "application/octet-stream")) for p in batch.paths]
        data = {"complete": "true" if batch.complete else "false"}
        if site:
            data["site"] = site
        studies: list[dict[str, Any]] = self.request("POST", "/api/uploads", files=parts, data=data)["studies"]
        return studies

    def upload_all(self, batches: list[UploadBatch], site: str | None,
                   progress: Callable[[int], None] | None = None, parallel: int = 2) -> list[dict[str, Any]]:
        """Send every batch, ``parallel`` studies at a time (each study's batches in order, so its
        "complete" batch goes last); the studies come back once each, last state wins."""
        groups: dict[str, list[UploadBatch]] = {}
        for batch in batches:
            groups.setdefault(batch.group, []).append(batch)
        lock = threading.Lock()
        seen: dict[int, dict[str, Any]] = {}

        def send(group: list[UploadBatch]) -> None:
            for batch in group:
                studies = self.upload(batch, site)
                with lock:
                    seen.update((study["id"], study) for study in studies)
                    if progress:
                        progress(batch.size)

        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
            for future in [pool.submit(send, group) for group in groups.values()]:
                future.result()
        return list(seen.values())

"""DICOM store adapter: Orthanc (Debian 12's 1.10.1) over its REST API.

HTTP goes through one persistent :class:`httpx.Client` (one connection pool, basic auth), not
through ``orthanc-api-client``: that client (0.25.3) brings a second HTTP stack (requests), its
``upload()`` drops Orthanc's ``Status`` so ``AlreadyStored`` cannot be told from a new instance,
several helpers need a newer Orthanc (``studies.get_instances()`` posts ``/tools/find`` with
``ParentStudy``, which 1.10.1 lacks), and its ``HttpClient`` returns ``None`` instead of raising for
request errors other than connection, timeout and TLS ones.  Every call below was checked against
1.10.1:

==========================================  ============================================
``POST /instances``                          store; ``Status`` is ``Success`` or ``AlreadyStored``
``POST /tools/find`` (Level ``Instance``)    instance ids of a StudyInstanceUID
``GET /instances/{id}/file``                 the Part 10 bytes
``GET /system``                              readiness
``GET /changes?since=N&limit=L``             the change feed (``NewStudy``, ``StableStudy``)
``GET /studies/{id}``, ``.../statistics``    a study's UID, ``IsStable`` and instance count
``GET /series/{id}``                         one instance of the study
``GET /instances/{id}/metadata/RemoteAET``   the calling AE title (empty when uploaded over REST)
==========================================  ============================================
"""

from __future__ import annotations

import io
import logging
import re
from types import TracebackType
from typing import Any

import httpx
import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.tag import Tag

from sharedcenter.errors import InvalidInput, NotFound, StorageError, StorageUnavailable
from sharedcenter.storage.base import DicomStore, InstanceUids, StoredInstance, StudyChange

__all__ = ["OrthancDicomStore"]

logger = logging.getLogger(__name__)

_ORTHANC_ID = re.compile(r"^[0-9a-f]{8}(?:-[0-9a-f]{8}){4}$")
_UID = re.compile(r"^[0-9]+(?:\.[0-9]+)*$")


def _check_uid(value: object, what: str) -> str:
    uid = str(value or "").strip()
    if len(uid) > 64 or not _UID.match(uid):
        raise InvalidInput(f"DICOM {what} {uid!r} is not a valid UID")
    return uid


_UID_TAGS = [Tag("StudyInstanceUID"), Tag("SeriesInstanceUID"), Tag("SOPInstanceUID")]


def _read_uids(data: bytes) -> tuple[str, str, str]:
    """Study, series and SOP instance UIDs of a Part 10 file (header only, pixels are not read)."""
    try:
        ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, specific_tags=_UID_TAGS)
    except (InvalidDicomError, EOFError, ValueError, TypeError, KeyError) as exc:
        raise InvalidInput(f"not a DICOM Part 10 file: {exc}") from exc
    return (
        _check_uid(ds.get("StudyInstanceUID"), "StudyInstanceUID"),
        _check_uid(ds.get("SeriesInstanceUID"), "SeriesInstanceUID"),
        _check_uid(ds.get("SOPInstanceUID"), "SOPInstanceUID"),
    )


def _orthanc_message(response: httpx.Response) -> str:
    """Orthanc's own explanation of an error answer (``Message: Details``), else the HTTP reason."""
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or str(response.status_code)
    if not isinstance(body, dict):
        return response.reason_phrase
    parts = [str(body[k]) for k in ("Message", "Details") if body.get(k)]
    return ": ".join(parts) or response.reason_phrase


class OrthancDicomStore(DicomStore):
    """DICOM instances kept in Orthanc; ids are Orthanc's instance ids.

    Parameters
    ----------
    url
        Orthanc's REST root, e.g. ``http://127.0.0.1:8042``.
    user, password
        HTTP basic-auth credentials (one of Orthanc's ``RegisteredUsers``).
    timeout
        Seconds to wait for Orthanc on each request.
    """

    name = "orthanc"

    def __init__(self, url: str, user: str, password: str, *, timeout: float = 30.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"url {url!r} must be an http:// or https:// URL of Orthanc's REST API")
        if timeout <= 0:
            raise ValueError(f"timeout {timeout} must be positive")
        self.url = url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.url,
            auth=httpx.BasicAuth(user, password),
            timeout=httpx.Timeout(timeout),
            headers={"Accept": "application/json"},
        )

    def __repr__(self) -> str:
        return f"OrthancDicomStore({self.url!r})"

    # -- connection ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection pool; the store cannot be used afterwards."""
        self._client.close()

    def __enter__(self) -> OrthancDicomStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        bad_request: type[Exception] = StorageError,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one request and translate every failure into a storage error at this boundary."""
        try:
            response = self._client.request(method, path, **kwargs)
            response.raise_for_status()
        except httpx.TransportError as exc:
            raise StorageUnavailable(f"Orthanc at {self.url} did not answer ({what}): {exc}") from exc
        except httpx.HTTPStatusError as exc:
            raise self._status_error(exc, what, bad_request) from exc
        except httpx.HTTPError as exc:
            raise StorageError(f"Orthanc at {self.url} failed ({what}): {exc}") from exc
        return response

    def _status_error(self, exc: httpx.HTTPStatusError, what: str, bad_request: type[Exception]) -> Exception:
        status = exc.response.status_code
        message = f"Orthanc at {self.url} answered {status} ({what}): {_orthanc_message(exc.response)}"
        if status >= 500:
            return StorageUnavailable(message)
        if status == 404:
            return NotFound(message)
        if status == 400:
            return bad_request(message)
        if status in (401, 403):
            return StorageError(f"{message}; check SHAREDCENTER_ORTHANC_USER and _PASSWORD")
        return StorageError(message)

    def _json(self, method: str, path: str, *, what: str, **kwargs: Any) -> Any:
        response = self._request(method, path, what=what, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise StorageError(f"Orthanc at {self.url} sent no JSON ({what})") from exc

    # -- DicomStore ---------------------------------------------------------------------------

    def store(self, data: bytes, uids: InstanceUids | None = None) -> StoredInstance:
        """Store one Part 10 file; an instance Orthanc already holds comes back with ``new=False``.

        Raises
        ------
        InvalidInput
            The bytes are not a DICOM Part 10 file with valid UIDs, or Orthanc refuses them.
        StorageUnavailable
            Orthanc does not answer or fails with a 5xx status.
        """
        study, series, sop = uids or _read_uids(data)
        body = self._json(
            "POST",
            "/instances",
            what="store instance",
            bad_request=InvalidInput,
            content=data,
            headers={"Content-Type": "application/dicom"},
        )
        status = body.get("Status") if isinstance(body, dict) else None
        if status not in ("Success", "AlreadyStored"):
            raise StorageError(f"Orthanc did not store SOP instance {sop}: status {status!r}")
        logger.debug("Orthanc %s instance %s as %s", status, sop, body["ID"])
        return StoredInstance(study, series, sop, str(body["ID"]), new=status == "Success")

    def instance_ids(self, study_instance_uid: str) -> list[str]:
        """Orthanc ids of every instance of the study, sorted; empty when Orthanc has no such study.

        Raises
        ------
        InvalidInput
            ``study_instance_uid`` is not a valid UID.
        """
        uid = _check_uid(study_instance_uid, "StudyInstanceUID")
        query = {"Level": "Instance", "Query": {"StudyInstanceUID": uid}, "Expand": False}
        ids = self._json("POST", "/tools/find", what=f"find instances of study {uid}", json=query)
        return sorted(str(i) for i in ids)

    def _study_id(self, study_instance_uid: str) -> str:
        uid = _check_uid(study_instance_uid, "StudyInstanceUID")
        query = {"Level": "Study", "Query": {"StudyInstanceUID": uid}, "Expand": False}
        ids = self._json("POST", "/tools/find", what=f"find study {uid}", json=query)
        if not ids:
            raise NotFound(f"Orthanc has no study {uid}")
        return str(ids[0])

    def fetch(self, store_id: str) -> bytes:
        """The Part 10 bytes of the instance with Orthanc id ``store_id``.

        Raises
        ------
        NotFound
            Orthanc has no such instance (or ``store_id`` is not an Orthanc id).
        """
        if not _ORTHANC_ID.match(store_id):
            raise NotFound(f"no DICOM instance {store_id!r}: not an Orthanc instance id")
        response = self._request(
            "GET", f"/instances/{store_id}/file", what=f"fetch {store_id}", headers={"Accept": "*/*"}
        )
        return response.content

    def check(self) -> None:
        """Raise :class:`StorageUnavailable` when Orthanc does not answer (``GET /system``)."""
        self._request("GET", "/system", what="check")

    # -- change feed --------------------------------------------------------------------------

    def study_changes(self, since: int, limit: int = 100) -> tuple[list[StudyChange], int, bool]:
        """Studies that arrived (``NewStudy``) or became stable (``StableStudy``) after change ``since``,
        read from Orthanc's ``/changes``.

        ``NewStudy`` matters because Orthanc 1.10.1 never logs ``StableStudy`` for a study that was
        still inside its ``StableAge`` when Orthanc stopped (see ``orthanc/README.md``): the caller
        records the arrival and later asks :meth:`is_stable`.  A study deleted since its change was
        logged is skipped.  Note that after Orthanc's
        database was replaced the returned cursor can be smaller than ``since``.

        Parameters
        ----------
        since
            The cursor returned by the previous call (0 at first).
        limit
            How many changes of any type Orthanc reads at most (Orthanc caps it).

        Returns
        -------
        changes, last, done
            The events (``stable`` from Orthanc's ``IsStable`` for ``NewStudy``), the cursor to
            pass next time, and whether the feed is exhausted.
        """
        if since < 0:
            raise ValueError(f"since {since} must be a change cursor >= 0")
        if limit < 1:
            raise ValueError(f"limit {limit} must be >= 1")
        feed = self._json("GET", "/changes", what="read changes", params={"since": since, "limit": limit})
        try:
            events = [(int(c["Seq"]), str(c["ID"])) for c in feed["Changes"]
                      if c["ChangeType"] in ("NewStudy", "StableStudy")]
            last, done = int(feed["Last"]), bool(feed["Done"])
        except (KeyError, TypeError, ValueError) as exc:
            raise StorageError(f"Orthanc at {self.url} sent a /changes answer without {exc}") from exc
        changes = [c for c in (self._study_change(seq, study_id) for seq, study_id in events) if c is not None]
        return changes, last, done

    def _study_change(self, seq: int, study_id: str) -> StudyChange | None:
        try:
            study = self._json("GET", f"/studies/{study_id}", what=f"study {study_id}")
            stats = self._json("GET", f"/studies/{study_id}/statistics", what=f"study {study_id}")
            ae_title = self._calling_ae_title(study.get("Series") or [])
        except NotFound:
            logger.info("stable study %s (change %d) was deleted meanwhile; skipped", study_id, seq)
            return None
        try:
            uid, count = str(study["MainDicomTags"]["StudyInstanceUID"]), int(stats["CountInstances"])
        except (KeyError, TypeError, ValueError) as exc:
            raise StorageError(f"Orthanc at {self.url} described study {study_id} without {exc}") from exc
        return StudyChange(seq, uid, ae_title, count, stable=bool(study.get("IsStable", False)))

    def is_stable(self, study_instance_uid: str) -> bool:
        """Orthanc's ``IsStable`` of the study (``NotFound`` when Orthanc has no such study)."""
        study_id = self._study_id(study_instance_uid)
        study = self._json("GET", f"/studies/{study_id}", what=f"study {study_id}")
        return bool(study.get("IsStable", False))

    def _calling_ae_title(self, series_ids: list[str]) -> str | None:
        if not series_ids:
            return None
        series = self._json("GET", f"/series/{series_ids[0]}", what=f"series {series_ids[0]}")
        instances = series.get("Instances") or []
        if not instances:
            return None
        try:
            response = self._request("GET", f"/instances/{instances[0]}/metadata/RemoteAET", what="RemoteAET metadata")
        except NotFound:
            return None
        return response.text.strip() or None

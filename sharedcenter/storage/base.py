"""Storage ports: the DICOM store and the object store, each a small base class.

Adapters (one module per external system) translate their library's exceptions into
:class:`~sharedcenter.errors.StorageError` / :class:`~sharedcenter.errors.StorageUnavailable`
at the boundary, chained with ``from exc``; nothing foreign reaches the core.
"""

from __future__ import annotations

import abc
import concurrent.futures
import dataclasses
from collections.abc import Iterator, Sequence

__all__ = ["DicomStore", "InstanceUids", "ObjectStore", "PendingStores", "StoredInstance", "StudyChange"]

#: (StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID)
InstanceUids = tuple[str, str, str]


@dataclasses.dataclass(frozen=True, slots=True)
class StoredInstance:
    """Where one DICOM instance now lives, and what it said about itself."""

    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    #: the store's own id for the instance (Orthanc id, or a relative path for the folder store)
    store_id: str
    #: False when the store already held this very instance (re-sending is harmless)
    new: bool = True


@dataclasses.dataclass(frozen=True, slots=True)
class StudyChange:
    """One event of a DICOM store's change feed: a study arrived, or became stable (complete)."""

    seq: int
    study_instance_uid: str
    #: the calling AE title of the modality that sent the study (None when unknown)
    calling_ae_title: str | None
    instance_count: int
    #: True when the store considers the study complete (no new instance for its quiet period)
    stable: bool = True


class PendingStores:
    """Instances being stored in a DICOM store's threads (:meth:`DicomStore.start_store_many`)."""

    def __init__(self, futures: list[concurrent.futures.Future[StoredInstance]]) -> None:
        self._futures = futures

    def wait(self) -> None:
        """Wait until every instance is stored or has failed."""
        concurrent.futures.wait(self._futures)

    def result(self) -> list[StoredInstance]:
        """Every instance's outcome, in the order given, once all are done; the first error is raised
        after the others have finished (each stored instance stays stored; storing it again is harmless)."""
        self.wait()
        return [f.result() for f in self._futures]


class DicomStore(abc.ABC):
    """Where DICOM instances are kept (Orthanc in deployment, a folder when embedded)."""

    name: str = "abstract"

    @abc.abstractmethod
    def store(self, data: bytes, uids: InstanceUids | None = None) -> StoredInstance:
        """Store one DICOM Part 10 file; storing the same SOP instance again is harmless.

        ``uids`` are the file's (study, series, SOP instance) UIDs when the caller has read them
        already; the store then need not parse the header again.

        Raises
        ------
        InvalidInput
            The bytes are not a DICOM instance the store accepts.
        StorageUnavailable
            The store cannot be reached now.
        """

    @abc.abstractmethod
    def instance_ids(self, study_instance_uid: str) -> list[str]:
        """The store ids of every instance of the study (empty when the study is unknown)."""

    @abc.abstractmethod
    def fetch(self, store_id: str) -> bytes:
        """The Part 10 bytes of one instance.

        Raises
        ------
        NotFound
            No such instance.
        """

    def store_many(
        self, items: Sequence[bytes], uids: Sequence[InstanceUids] | None = None, max_workers: int = 4
    ) -> list[StoredInstance]:
        """Store several instances, up to ``max_workers`` at a time; results in the order given.

        Orthanc ingests instances in parallel HTTP threads, so a study's files need not wait on
        each other.  The first error is raised after the others have finished (each stored
        instance stays stored; storing it again is harmless).
        """
        if len(items) <= 1 or max_workers <= 1:
            known: Sequence[InstanceUids | None] = uids if uids is not None else [None] * len(items)
            return [self.store(data, u) for data, u in zip(items, known, strict=True)]
        return self.start_store_many(items, uids, max_workers).result()

    def start_store_many(
        self, items: Sequence[bytes], uids: Sequence[InstanceUids] | None = None, max_workers: int = 4
    ) -> PendingStores:
        """Start storing several instances in the store's threads (``max_workers`` at most) and return at once.

        The caller does other work meanwhile (ingest writes the study's rows) and then calls
        :meth:`PendingStores.result`, which waits for every instance.
        """
        known: Sequence[InstanceUids | None] = uids if uids is not None else [None] * len(items)
        pool = self._pool(max_workers)
        return PendingStores([pool.submit(self.store, data, u) for data, u in zip(items, known, strict=True)])

    def _pool(self, max_workers: int) -> concurrent.futures.ThreadPoolExecutor:
        """One thread pool per store, made on first use (threads are not free to start)."""
        pool: concurrent.futures.ThreadPoolExecutor | None = getattr(self, "_store_pool", None)
        if pool is None:
            pool = concurrent.futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="dicom-store")
            self._store_pool = pool
        return pool

    def iter_study(self, study_instance_uid: str) -> Iterator[bytes]:
        """Every instance of a study, as Part 10 bytes."""
        for store_id in self.instance_ids(study_instance_uid):
            yield self.fetch(store_id)

    def study_changes(self, since: int, limit: int = 100) -> tuple[list[StudyChange], int, bool]:
        """Studies that arrived or became stable after cursor ``since``.

        Returns
        -------
        changes, last, done
            The events, the cursor to pass next time, and whether the feed is exhausted.
            Stores without a change feed (the folder store) return ``([], since, True)``.
        """
        return [], since, True

    def is_stable(self, study_instance_uid: str) -> bool:
        """Whether the store considers the study complete; stores without a quiet period say True.

        Raises
        ------
        NotFound
            The store has no such study.
        """
        return True

    def check(self) -> None:  # noqa: B027 - optional hook, default is "always ready"
        """Raise :class:`StorageUnavailable` when the store does not answer."""


class ObjectStore(abc.ABC):
    """Where original uploads and derived objects are kept (MinIO/S3 in deployment, a folder embedded)."""

    name: str = "abstract"

    @abc.abstractmethod
    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        """Store ``data`` under ``key``, atomically: a reader sees all of it or nothing.

        Raises
        ------
        ValueError
            ``key`` is empty, absolute, or contains ``..`` or a backslash.
        StorageUnavailable
            The store cannot be reached now.
        """

    @abc.abstractmethod
    def get(self, key: str) -> bytes:
        """The bytes under ``key``.

        Raises
        ------
        NotFound
            Nothing is stored under ``key``.
        """

    @abc.abstractmethod
    def exists(self, key: str) -> bool:
        """Whether something is stored under ``key``."""

    @abc.abstractmethod
    def size(self, key: str) -> int:
        """The stored size in bytes; raises :class:`NotFound` when absent."""

    def check(self) -> None:  # noqa: B027 - optional hook, default is "always ready"
        """Raise :class:`StorageUnavailable` when the store does not answer."""


def check_key(key: str) -> str:
    """Validate an object key: relative, ``/``-separated, no ``..`` and no backslash."""
    if not key or key.startswith("/") or "\\" in key or any(p in ("", ".", "..") for p in key.split("/")):
        raise ValueError(f"object key {key!r} must be a relative /-separated path without '.' or '..' parts")
    return key

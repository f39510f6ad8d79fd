"""The spool: a folder that holds every instance the agent has received and the county has not yet
acknowledged, with its journal and its lock.

Layout::

    SPOOL/agent.lock      held (flock) by the running agent; a second agent on the spool is refused
    SPOOL/journal.sqlite  the journal (WAL, synchronous=FULL)
    SPOOL/queue/          <SOP UID>.dcm, written to a temporary name, fsynced, renamed, directory fsynced
    SPOOL/failed/         instances the county refused (4xx), each with <name>.reason.txt
    SPOOL/rejected/       files from the watched folder that are not DICOM, each with <name>.reason.txt

A file reaches ``queue/`` before its journal row is written, so a crash between the two leaves an
orphan file that :meth:`Spool.recover` adopts on the next start; a crash before the C-STORE answer
makes the modality send again, and the SOP UID key stores it once.
"""

from __future__ import annotations

import dataclasses
import fcntl
import io
import logging
import os
import re
import shutil
import threading
from pathlib import Path
from typing import IO

import pydicom
from pydicom.tag import Tag

from sharedcenter.agent.journal import Journal
from sharedcenter.ecg.detect import DICOM_ERRORS, is_dicom
from sharedcenter.errors import InvalidInput, SharedCenterError

__all__ = ["Accepted", "Spool", "SpoolLocked", "is_locked", "read_uids"]

log = logging.getLogger(__name__)

_UID_TAGS = [Tag(k) for k in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")]
_SAFE = re.compile(r"[^0-9A-Za-z._-]")


class SpoolLocked(SharedCenterError, RuntimeError):
    """Another agent already runs on this spool."""


@dataclasses.dataclass(frozen=True, slots=True)
class Accepted:
    """The outcome of :meth:`Spool.accept`: ``new`` is False for an instance already held or sent."""

    sop_uid: str
    study_uid: str
    new: bool


def read_uids(data: bytes, name: str = "instance") -> tuple[str, str, str]:
    """The study, series and SOP instance UIDs of a DICOM Part 10 file.

    Raises
    ------
    InvalidInput
        ``data`` is not a readable DICOM Part 10 file or lacks one of the UIDs.
    """
    if not is_dicom(data):
        raise InvalidInput(f"{name}: not a DICOM Part 10 file (no 'DICM' after the 128-byte preamble)")
    try:
        ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, specific_tags=_UID_TAGS)
    except DICOM_ERRORS as exc:
        raise InvalidInput(f"{name}: not a readable DICOM file ({exc})") from exc
    uids = tuple(str(ds.get(tag, "") or "").strip() for tag in ("StudyInstanceUID", "SeriesInstanceUID",
                                                               "SOPInstanceUID"))
    for tag, value in zip(("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"), uids, strict=True):
        if not value:
            raise InvalidInput(f"{name}: DICOM file has no {tag}")
    return uids[0], uids[1], uids[2]


def is_locked(root: Path) -> bool:
    """Whether an agent holds the spool's lock now (probed with a shared lock, which changes nothing)."""
    path = Path(root) / "agent.lock"
    if not path.exists():
        return False
    with path.open("r") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    return False


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durably(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that it survives a crash once this returns (tmp, fsync, rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


class Spool:
    """A spool folder and its journal (see the module docstring for the layout)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        for sub in ("queue", "failed", "rejected"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.journal = Journal(self.root / "journal.sqlite")
        self._lock_file: IO[str] | None = None

    @property
    def queue_dir(self) -> Path:
        return self.root / "queue"

    def lock(self) -> None:
        """Take the spool's lock for this process (released by :meth:`close` or the process's death).

        Raises
        ------
        SpoolLocked
            Another process holds it.
        """
        fh = (self.root / "agent.lock").open("a+")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise SpoolLocked(f"spool {self.root} is in use by another agent (pid {holder})") from exc
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._lock_file = fh

    def close(self) -> None:
        self.journal.close()
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def accept(self, data: bytes, source: str, name: str = "instance") -> Accepted:
        """Make a received instance durable and journal it; an already known SOP UID is not stored again.

        Raises
        ------
        InvalidInput
            ``data`` is not a DICOM file with its UIDs; nothing is stored.
        """
        study, series, sop = read_uids(data, name)
        if self.journal.has(sop):
            return Accepted(sop, study, new=False)
        name = f"{_SAFE.sub('_', sop)}.dcm"
        _write_durably(self.queue_dir / name, data)
        new = self.journal.add(sop, study, series, f"queue/{name}", len(data), source)
        return Accepted(sop, study, new)

    def recover(self) -> int:
        """Adopt files in ``queue/`` that have no journal row (a crash between the write and the row);
        remove temporary files left half-written.  Returns how many were adopted."""
        known = self.journal.known_files()
        adopted = 0
        for path in sorted(self.queue_dir.iterdir()):
            if path.name.startswith("."):
                path.unlink()  # a write that never reached its fsync: the sender was not answered
                continue
            rel = f"queue/{path.name}"
            if rel in known:
                continue
            try:
                study, series, sop = read_uids(path.read_bytes(), path.name)
            except InvalidInput as exc:
                self.set_aside(path, "failed", str(exc))
                continue
            if self.journal.add(sop, study, series, rel, path.stat().st_size, "recovered"):
                adopted += 1
            else:
                path.unlink()  # the same SOP UID is already journalled under its own file
        if adopted:
            log.info("adopted %d spooled file(s) with no journal row", adopted)
        return adopted

    def set_aside(self, path: Path, folder: str, reason: str) -> Path:
        """Move ``path`` into ``failed/`` or ``rejected/`` with ``<name>.reason.txt`` beside it."""
        target = self.root / folder / path.name
        n = 1
        while target.exists():
            target = self.root / folder / f"{path.stem}-{n}{path.suffix}"
            n += 1
        _write_durably(target.with_name(f"{target.name}.reason.txt"), f"{reason}\n".encode())
        shutil.move(str(path), target)
        _fsync_dir(target.parent)
        return target

    def fail(self, sop_uid: str, file: str, reason: str) -> None:
        """The county refused this instance: keep it in ``failed/`` with the reason, never retry it."""
        target = self.set_aside(self.root / file, "failed", reason)
        self.journal.mark_failed(sop_uid, str(target.relative_to(self.root)), reason)

    def delete_sent(self, files: list[str]) -> None:
        """Remove the files of acknowledged instances (after their journal rows say ``sent``)."""
        for file in files:
            (self.root / file).unlink(missing_ok=True)
        _fsync_dir(self.queue_dir)

    def rejected_count(self) -> int:
        return sum(1 for p in (self.root / "rejected").iterdir() if not p.name.endswith(".reason.txt"))

"""What a clinic hands to ``sharedcenter upload``: files, folders, zips and DICOMDIRs, as items to send.

:func:`collect` walks the inputs and says, for every file, whether it is sent (an :class:`Item`: a DICOM
instance, or one file of an ECG record) or skipped (a :class:`Skipped` with the reason).  Nothing is
read beyond the headers here; an item's bytes are read when its batch is sent (zip members are streamed
from the archive, never extracted to disk).  Problems that make the input untrustworthy (a zip bomb, a
DICOMDIR naming a missing file) raise :class:`~sharedcenter.errors.InvalidInput` before anything is sent.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pydicom
from pydicom.fileset import FileSet

from sharedcenter.ecg.detect import DICOM, DICOM_ERRORS, WFDB_HEADER, ZIP, detect_format, wfdb_signal_files
from sharedcenter.errors import InvalidInput
from sharedcenter.upload._archive import ArchiveLimits, open_archive

__all__ = ["DICOMDIR_CLASS", "Inputs", "Item", "Skipped", "collect", "dicomdir_files"]

#: Media Storage Directory Storage: the SOP class of a DICOMDIR.
DICOMDIR_CLASS = "1.2.840.10008.1.3.10"
_HEAD_BYTES = 1024 * 1024
_UID_TAGS = ["StudyInstanceUID", "SOPInstanceUID", "MediaStorageSOPClassUID"]
_DICOMDIR_ERRORS: tuple[type[Exception], ...] = (*DICOM_ERRORS, KeyError, AttributeError)
_SINGLE_FILE_ECG = ("hl7-aecg", "scp-ecg", ZIP)


@dataclasses.dataclass(frozen=True, slots=True)
class Item:
    """One file to send: a DICOM instance (``key`` its SOP Instance UID) or a file of an ECG record.

    ``group`` is the StudyInstanceUID, or ``ecg:`` and the record's identity; ``name`` is what the
    server is told (unique in a request); ``origin`` is what the user is told.
    """

    origin: str
    name: str
    size: int
    group: str
    key: str
    read: Callable[[], bytes] = dataclasses.field(repr=False, compare=False)


@dataclasses.dataclass(frozen=True, slots=True)
class Skipped:
    """A file that is not sent, and why."""

    origin: str
    reason: str


@dataclasses.dataclass(slots=True)
class Inputs:
    """Everything :func:`collect` found; ``close`` releases the zip archives still open for streaming."""

    items: list[Item] = dataclasses.field(default_factory=list)
    skipped: list[Skipped] = dataclasses.field(default_factory=list)
    _stack: contextlib.ExitStack = dataclasses.field(default_factory=contextlib.ExitStack, repr=False)

    def close(self) -> None:
        self._stack.close()


def _dicom_uids(origin: str, head: bytes, full: Callable[[], bytes]) -> pydicom.Dataset:
    """The UIDs of a DICOM file, from its first bytes; the whole file is read only when its header is
    longer than them."""
    try:
        ds = pydicom.dcmread(io.BytesIO(head), stop_before_pixels=True, specific_tags=_UID_TAGS)
        if len(head) < _HEAD_BYTES or ("StudyInstanceUID" in ds and "SOPInstanceUID" in ds):
            return ds
    except DICOM_ERRORS as exc:
        if len(head) < _HEAD_BYTES:
            raise InvalidInput(f"{origin}: not a readable DICOM file ({exc})") from exc
    try:
        return pydicom.dcmread(io.BytesIO(full()), stop_before_pixels=True, specific_tags=_UID_TAGS)
    except DICOM_ERRORS as exc:
        raise InvalidInput(f"{origin}: not a readable DICOM file ({exc})") from exc


def _dicom_item(origin: str, size: int, head: bytes, read: Callable[[], bytes]) -> Item | Skipped:
    ds = _dicom_uids(origin, head, read)
    if str(ds.file_meta.get("MediaStorageSOPClassUID", "")) == DICOMDIR_CLASS:
        return Skipped(origin, "a DICOMDIR index; give the DICOMDIR itself to upload the files it lists")
    study, sop = str(ds.get("StudyInstanceUID", "")).strip(), str(ds.get("SOPInstanceUID", "")).strip()
    if not study or not sop:
        return Skipped(origin, "DICOM file without StudyInstanceUID or SOPInstanceUID")
    return Item(origin, f"{sop}.dcm", size, study, sop, read)


def _head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(_HEAD_BYTES)


class _Collector:
    def __init__(self, inputs: Inputs, limits: ArchiveLimits) -> None:
        self.inputs, self.limits = inputs, limits
        self.seen: set[Path] = set()
        self.dicomdir_files: set[Path] = set()
        #: the files of the WFDB records sent (header and signal files, resolved)
        self.record_files: set[Path] = set()
        #: origin -> path of the files of no known format, skipped unless a WFDB record takes them
        self.unknown: dict[str, Path] = {}

    def add(self, path: Path) -> None:
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            dicomdirs = [p for p in files if p.name.upper() == "DICOMDIR"]
            for p in dicomdirs:  # a folder's DICOMDIR first: what it lists is sent through it
                self.dicomdir(p)
            self.files(p for p in files if p.resolve() not in self.dicomdir_files and p not in dicomdirs)
        elif path.is_file():
            if path.name.upper() == "DICOMDIR":
                self.dicomdir(path)
            else:
                self.files([path])
        else:
            raise InvalidInput(f"{path}: no such file or folder")

    def files(self, paths: Iterable[Path]) -> None:
        pending = [p for p in paths if p.resolve() not in self.seen]
        self.seen.update(p.resolve() for p in pending)
        used: set[Path] = set()
        for path in pending:
            head = _head(path)
            kind = detect_format(path.name, head)
            if kind == ZIP and self.zip(path):
                used.add(path)
            elif kind == DICOM:
                used.add(path)
                self.put(_dicom_item(str(path), path.stat().st_size, head, path.read_bytes))
            elif kind in _SINGLE_FILE_ECG:
                used.add(path)
                self.ecg([path])
            elif kind == WFDB_HEADER:
                record = [path] + [self.signal(path, n, pending) for n in wfdb_signal_files(path.read_bytes())]
                used.update(record)
                self.record_files.update(p.resolve() for p in record)
                self.seen.update(self.record_files)  # a signal file given later on its own is not walked again
                self.ecg(record)
        for path in pending:
            if path not in used:
                self.unknown[str(path)] = path
                self.put(Skipped(str(path), "not DICOM nor a known ECG format"))

    def finish(self) -> None:
        """Drop the skips of signal files that a WFDB record took after all (each input path is walked
        on its own: ``rec.dat`` given beside ``rec.hea`` is sent with the record, once)."""
        taken = {origin for origin, path in self.unknown.items() if path.resolve() in self.record_files}
        self.inputs.skipped = [s for s in self.inputs.skipped if s.origin not in taken]

    def signal(self, header: Path, name: str, pending: list[Path]) -> Path:
        candidate = header.with_name(name)
        if candidate in pending or candidate.is_file():
            return candidate
        raise InvalidInput(f"WFDB record {header} needs signal file {name!r} beside it, not found")

    def ecg(self, record: list[Path]) -> None:
        """An ECG record goes in one request, whole; its identity is the hash of its files."""
        digest = hashlib.sha256()
        for path in record:
            digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
        group = f"ecg:{digest.hexdigest()}"
        for path in record:
            self.put(Item(str(path), path.name, path.stat().st_size, group, f"{group}:{path.name}",
                          path.read_bytes))

    def put(self, entry: Item | Skipped) -> None:
        if isinstance(entry, Item):
            self.inputs.items.append(entry)
        else:
            self.inputs.skipped.append(entry)

    def zip(self, path: Path) -> bool:
        """Stream the DICOM members of a zip; ``False`` when it holds no DICOM (an ECG record's zip)."""
        archive = open_archive(path, self.limits)
        infos = [i for i in archive.infolist() if not i.is_dir()]
        entries = list(_zip_entries(path, archive, infos))
        if not any(isinstance(e, Item) for e in entries):
            archive.close()
            return False
        self.inputs._stack.enter_context(archive)
        for entry in entries:
            self.put(entry)
        return True

    def dicomdir(self, path: Path) -> None:
        files = dicomdir_files(path)
        self.dicomdir_files.update(p.resolve() for p in files)
        self.seen.add(path.resolve())
        self.files(files)


def _zip_entries(path: Path, archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> Iterator[Item | Skipped]:
    for info in infos:
        origin = f"{path}!{info.filename}"
        if _base_name(info.filename).upper() == "DICOMDIR":
            yield Skipped(origin, "the DICOMDIR index of the archive; its files are sent as members")
            continue
        with archive.open(info) as fh:
            head = fh.read(_HEAD_BYTES)

        def read(info: zipfile.ZipInfo = info) -> bytes:
            return archive.read(info)

        if detect_format(info.filename, head) == DICOM:
            yield _dicom_item(origin, info.file_size, head, read)
        else:
            yield Skipped(origin, "not DICOM (only DICOM is taken from a zip of images)")


def _base_name(name: str) -> str:
    return name.replace("\\", "/").rsplit("/", 1)[-1]


def dicomdir_files(path: Path) -> list[Path]:
    """The files a DICOMDIR lists (pydicom's :class:`~pydicom.fileset.FileSet`), each checked to exist.

    Raises
    ------
    InvalidInput
        The DICOMDIR cannot be read, or its records name files that are not there (each named).
    """
    try:
        ds = pydicom.dcmread(path)
        referenced = [path.parent.joinpath(*_file_id(record.ReferencedFileID))
                      for record in ds.DirectoryRecordSequence if "ReferencedFileID" in record]
    except _DICOMDIR_ERRORS as exc:
        raise InvalidInput(f"{path}: not a readable DICOMDIR ({exc})") from exc
    # checked before FileSet reads the records: it only warns about a missing file and leaves it out
    missing = [str(p) for p in referenced if not p.is_file()]
    if missing:
        raise InvalidInput(f"{path}: the DICOMDIR lists {len(missing)} file(s) that are missing: "
                           f"{', '.join(missing[:20])}")
    try:
        return [Path(instance.path) for instance in FileSet(ds)]
    except _DICOMDIR_ERRORS as exc:
        raise InvalidInput(f"{path}: not a readable DICOMDIR ({exc})") from exc


def _file_id(value: object) -> list[str]:
    """A Referenced File ID (VR CS, up to 8 components) as path parts."""
    return [str(part) for part in value] if isinstance(value, (list, pydicom.multival.MultiValue)) else [str(value)]


def collect(paths: Iterable[Path], limits: ArchiveLimits | None = None) -> Inputs:
    """Walk ``paths`` (files, folders recursively, zips, DICOMDIRs) into items to send and skipped files.

    Raises
    ------
    InvalidInput
        A path that does not exist, an unreadable DICOM file, an unsafe zip, a DICOMDIR naming missing
        files, a WFDB header without its signal file.
    """
    inputs = Inputs()
    collector = _Collector(inputs, limits or ArchiveLimits())
    try:
        for path in paths:
            collector.add(path)
        collector.finish()
    except BaseException:
        inputs.close()
        raise
    return inputs

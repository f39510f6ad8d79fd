"""Zip archives sent by a clinic: checked before anything is read, members streamed, never extracted.

A clinic's zip is untrusted: before one member is read, :func:`open_archive` refuses archives that
are encrypted, that name a member outside the archive (``../``, absolute paths, drive letters), that
overlap members (the "better zip bomb" trick) or that would unpack to more than the limits allow.
The checks use the central directory only; ``zipfile`` then never yields more bytes for a member
than the central directory declares, so the declared sizes bound what is read.
"""

from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path, PurePosixPath

from sharedcenter.errors import InvalidInput

__all__ = ["ArchiveLimits", "open_archive"]


@dataclasses.dataclass(frozen=True, slots=True)
class ArchiveLimits:
    """How much a zip may unpack to.

    ``max_ratio`` applies to members larger than ``ratio_floor`` bytes: real DICOM compresses a few
    times, deflate's worst case (zeros) about 1000 times.
    """

    max_total: int = 8 * 1024**3
    max_member: int = 2 * 1024**3
    max_members: int = 100_000
    max_ratio: float = 200.0
    ratio_floor: int = 1024 * 1024


def _unsafe_name(name: str) -> bool:
    posix = PurePosixPath(name.replace("\\", "/"))
    return posix.is_absolute() or ".." in posix.parts or (len(name) > 1 and name[1] == ":")


def _check_members(path: Path, infos: list[zipfile.ZipInfo], limits: ArchiveLimits) -> None:
    if len(infos) > limits.max_members:
        raise InvalidInput(f"{path}: zip has {len(infos)} members, more than the limit of {limits.max_members}")
    total = 0
    for info in infos:
        if info.flag_bits & 0x1:
            raise InvalidInput(f"{path}: zip member {info.filename!r} is encrypted; send an unencrypted zip")
        if _unsafe_name(info.filename):
            raise InvalidInput(f"{path}: zip member {info.filename!r} points outside the archive (path traversal)")
        if info.file_size > limits.max_member:
            raise InvalidInput(f"{path}: zip member {info.filename!r} unpacks to {info.file_size} bytes, "
                               f"more than the limit of {limits.max_member} (zip bomb?)")
        if info.file_size > limits.ratio_floor and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise InvalidInput(f"{path}: zip member {info.filename!r} is compressed "
                               f"{info.file_size / max(info.compress_size, 1):.0f} times, more than "
                               f"{limits.max_ratio:.0f} (zip bomb?)")
        total += info.file_size
    if total > limits.max_total:
        raise InvalidInput(f"{path}: zip unpacks to {total} bytes, more than the limit of {limits.max_total} "
                           "(zip bomb?)")


def _check_overlap(path: Path, infos: list[zipfile.ZipInfo]) -> None:
    """Members whose data overlap are the trick of non-recursive zip bombs; no honest zip has them.

    Hand-written: ``zipfile`` of Python 3.11 only spots some overlaps, and only while reading.
    """
    spans = sorted((i.header_offset, i.header_offset + i.compress_size, i.filename) for i in infos)
    for (start, end, name), (next_start, _, next_name) in zip(spans, spans[1:], strict=False):
        if next_start < end or next_start == start:
            raise InvalidInput(f"{path}: zip members {name!r} and {next_name!r} overlap (zip bomb?)")


def open_archive(path: Path, limits: ArchiveLimits | None = None) -> zipfile.ZipFile:
    """Open ``path`` as a zip after checking it is safe to stream; the caller closes it.

    Raises
    ------
    InvalidInput
        Not a readable zip, or encrypted, path-traversing, overlapping or oversized members; the message
        names the archive and the member.
    """
    limits = limits or ArchiveLimits()
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InvalidInput(f"{path}: not a readable zip archive ({exc})") from exc
    try:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        _check_members(path, infos, limits)
        _check_overlap(path, infos)
    except InvalidInput:
        archive.close()
        raise
    return archive

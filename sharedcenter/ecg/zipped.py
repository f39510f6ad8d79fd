"""Unpack a zip that carries one ECG record (a WFDB ``.hea`` with its ``.dat``/``.mat``, or one file).

The archive is untrusted: member names with ``..``, absolute paths, backslashes or drive letters
are refused (zip slip), folders inside the archive are flattened, and every member is read with a
byte budget, so a zip bomb stops at the limit instead of filling memory.
"""

from __future__ import annotations

import io
import logging
import zipfile
import zlib

from sharedcenter.errors import InvalidInput

__all__ = ["MAX_MEMBERS", "MAX_UNPACKED_BYTES", "ZIP", "is_zip", "unzip_record"]

logger = logging.getLogger(__name__)

#: Format name of a zip archive.
ZIP = "zip"
#: At most this many files in an ECG zip.
MAX_MEMBERS = 16
#: At most this many bytes once unpacked, all members together.
MAX_UNPACKED_BYTES = 64 << 20
_CHUNK = 1 << 16


def is_zip(data: bytes) -> bool:
    """Whether ``data`` starts like a zip archive (local file header or empty archive)."""
    return data[:4] in (b"PK\x03\x04", b"PK\x05\x06")


def _member_name(raw: str) -> str:
    """The plain file name of a member; refuses path traversal."""
    if not raw or raw.startswith(("/", "\\")) or "\\" in raw or ".." in raw.split("/") or ":" in raw or "\x00" in raw:
        raise InvalidInput(f"zip member {raw!r} has an unsafe path ('..', absolute, backslash or drive)")
    return raw.rsplit("/", 1)[-1]


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int) -> bytes:
    out = bytearray()
    with archive.open(info) as handle:
        while chunk := handle.read(_CHUNK):
            out += chunk
            if len(out) > budget:
                raise InvalidInput(f"zip unpacks to more than {MAX_UNPACKED_BYTES} bytes (zip bomb?)")
    return bytes(out)


def unzip_record(data: bytes) -> dict[str, bytes]:
    """The files of a zipped ECG record, by plain name.

    Parameters
    ----------
    data
        The zip bytes.

    Returns
    -------
    dict
        File name (folders dropped) to bytes; hidden files and ``__MACOSX`` entries are skipped.

    Raises
    ------
    InvalidInput
        Not a readable zip, encrypted, an unsafe member path, two members with one name, more than
        :data:`MAX_MEMBERS` files or more than :data:`MAX_UNPACKED_BYTES` unpacked.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = [info for info in archive.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise InvalidInput(f"not a readable zip archive (truncated or corrupt?): {exc}") from exc
    if len(infos) > MAX_MEMBERS:
        raise InvalidInput(f"zip holds {len(infos)} files; an ECG record has at most {MAX_MEMBERS}")
    files: dict[str, bytes] = {}
    budget = MAX_UNPACKED_BYTES
    for info in infos:
        name = _member_name(info.filename)
        if name.startswith(".") or info.filename.startswith("__MACOSX/"):
            continue
        if name in files:
            raise InvalidInput(f"zip holds two files named {name!r}")
        if info.flag_bits & 0x1:
            raise InvalidInput(f"zip member {name!r} is encrypted")
        try:
            files[name] = _read_member(archive, info, budget)
        except (zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError, NotImplementedError) as exc:
            raise InvalidInput(f"zip member {name!r} cannot be unpacked: {exc}") from exc
        budget -= len(files[name])
    if not files:
        raise InvalidInput("zip archive holds no files")
    return files

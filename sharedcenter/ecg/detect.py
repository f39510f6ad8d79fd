"""Recognise uploaded ECG files from their content, never from their names.

An upload is a set of files.  :func:`detect_format` says what one file is (``"dicom"``,
``"wfdb-header"`` or ``None`` for anything else, such as a WFDB signal file);
:func:`wfdb_signal_files` names the signal files a WFDB header needs, so that an uploader can
group a ``.hea`` with its ``.dat``/``.mat``; :func:`is_dicom_waveform` tells a DICOM waveform
(an ECG) from an image.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import re
import struct
import warnings

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import BytesLengthException, InvalidDicomError

from sharedcenter.errors import InvalidInput

__all__ = [
    "AECG",
    "DICOM",
    "DICOM_ERRORS",
    "ECG_WAVEFORM_SOP_CLASSES",
    "WAVEFORM_SOP_CLASSES",
    "SCP_ECG",
    "WFDB_HEADER",
    "ZIP",
    "WfdbHeader",
    "WfdbSignalSpec",
    "check_plain_file_name",
    "detect_format",
    "is_dicom",
    "is_dicom_waveform",
    "is_scp_ecg",
    "parse_dicom",
    "parse_wfdb_header",
    "wfdb_signal_files",
]

logger = logging.getLogger(__name__)

#: Format name of a DICOM Part 10 file.
DICOM = "dicom"
#: Format name of a WFDB header (``.hea``) file.
WFDB_HEADER = "wfdb-header"
#: Format name of a zip archive (holding one ECG record).
ZIP = "zip"
#: Format name of an HL7 aECG XML document.
AECG = "hl7-aecg"
#: Format name of an SCP-ECG (EN 1064) file.
SCP_ECG = "scp-ecg"

#: The ECG waveform storage SOP classes (PS3.4 annex B.5).
ECG_WAVEFORM_SOP_CLASSES: frozenset[str] = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.9.1.1",  # 12-lead ECG
        "1.2.840.10008.5.1.4.1.1.9.1.2",  # General ECG
        "1.2.840.10008.5.1.4.1.1.9.1.3",  # Ambulatory ECG
        "1.2.840.10008.5.1.4.1.1.9.1.4",  # General 32-bit ECG
    }
)

#: Every waveform storage SOP class: ECG plus hemodynamic, electrophysiology, audio, EEG and others.
WAVEFORM_SOP_CLASSES: frozenset[str] = ECG_WAVEFORM_SOP_CLASSES | frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.9.2.1",  # Hemodynamic
        "1.2.840.10008.5.1.4.1.1.9.3.1",  # Cardiac Electrophysiology
        "1.2.840.10008.5.1.4.1.1.9.4.1",  # Basic Voice Audio
        "1.2.840.10008.5.1.4.1.1.9.4.2",  # General Audio
        "1.2.840.10008.5.1.4.1.1.9.5.1",  # Arterial Pulse
        "1.2.840.10008.5.1.4.1.1.9.6.1",  # Respiratory
        "1.2.840.10008.5.1.4.1.1.9.6.2",  # Multi-channel Respiratory
        "1.2.840.10008.5.1.4.1.1.9.7.1",  # Routine Scalp EEG
        "1.2.840.10008.5.1.4.1.1.9.7.2",  # EMG
        "1.2.840.10008.5.1.4.1.1.9.7.3",  # EOG
        "1.2.840.10008.5.1.4.1.1.9.7.4",  # Sleep EEG
        "1.2.840.10008.5.1.4.1.1.9.8.1",  # Body Position
    }
)

#: What pydicom raises on corrupt input, when parsing or later, when a value is first read.
DICOM_ERRORS: tuple[type[Exception], ...] = (
    InvalidDicomError,
    BytesLengthException,
    ValueError,
    TypeError,
    EOFError,
    OSError,
    KeyError,
    IndexError,
    AttributeError,
    NotImplementedError,
    OverflowError,
    struct.error,
)
_DICOM_MAGIC = b"DICM"
_DICOM_MAGIC_OFFSET = 128
#: A WFDB header larger than this is not a header (they are a few KiB at most).
_MAX_HEADER_BYTES = 1 << 20

_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
#: ``record_name[/n_segments]``; a known quirk of the CinC 2020 Georgia headers adds ``.mat``.
_RECORD_RE = re.compile(r"^(?P<name>[A-Za-z0-9_]+)(?P<quirk>\.(?:mat|dat|hea))?(?:/(?P<nseg>\d+))?$", re.ASCII)
_FS_RE = re.compile(rf"^(?P<fs>{_NUMBER})(?:/(?P<counter>{_NUMBER}))?(?:\((?P<base>-?{_NUMBER})\))?$", re.ASCII)
_UINT_RE = re.compile(r"^[0-9]+$")
_FMT_RE = re.compile(r"^(?P<fmt>\d+)(?:x(?P<spf>\d+))?(?::(?P<skew>\d+))?(?:\+(?P<offset>\d+))?$", re.ASCII)
#: Signal formats of the WFDB specification (``signal(5)``).
_WFDB_FORMATS = frozenset({"8", "16", "24", "32", "61", "80", "160", "212", "310", "311", "508", "516", "524"})


@dataclasses.dataclass(frozen=True, slots=True)
class WfdbSignalSpec:
    """One signal line of a WFDB header: its file and storage format."""

    file_name: str
    fmt: str
    samples_per_frame: int
    byte_offset: int
    description: str


@dataclasses.dataclass(frozen=True, slots=True)
class WfdbHeader:
    """The parts of a single-segment WFDB header that upload handling needs."""

    record_name: str
    n_segments: int | None
    n_signals: int
    fs: float | None
    n_samples: int | None
    signals: tuple[WfdbSignalSpec, ...]
    #: the record-name token carried a file extension (a known defect of some challenge headers)
    name_quirk: bool = False


def is_dicom(data: bytes) -> bool:
    """Whether ``data`` is a DICOM Part 10 file ("DICM" after the 128-byte preamble)."""
    end = _DICOM_MAGIC_OFFSET + len(_DICOM_MAGIC)
    return len(data) >= end and data[_DICOM_MAGIC_OFFSET:end] == _DICOM_MAGIC


def detect_format(name: str, data: bytes) -> str | None:
    """Say what one uploaded file is, from its content.

    Parameters
    ----------
    name
        The file name as uploaded; only used in log messages, never to decide.
    data
        The file's bytes.

    Returns
    -------
    str or None
        :data:`DICOM`, :data:`ZIP`, :data:`AECG`, :data:`SCP_ECG`, :data:`WFDB_HEADER`, or
        ``None`` for anything else (a WFDB signal file, an unknown format, garbage).
    """
    if is_dicom(data):
        return DICOM
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return ZIP
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<") and b"AnnotatedECG" in head:
        return AECG
    if is_scp_ecg(data):
        return SCP_ECG
    try:
        parse_wfdb_header(data)
    except InvalidInput as exc:
        logger.debug("%s is neither DICOM nor a WFDB header: %s", name, exc)
        return None
    return WFDB_HEADER


def is_scp_ecg(data: bytes) -> bool:
    """Whether ``data`` is laid out like an SCP-ECG file.

    SCP-ECG has no magic number: the test is that bytes 3-6 give the file's length and that
    section 0 (the pointer section) follows at byte 7 with a plausible length.
    """
    if len(data) < 6 + 16 + 10:
        return False
    declared = int.from_bytes(data[2:6], "little")
    section_id = int.from_bytes(data[8:10], "little")
    section_length = int.from_bytes(data[10:14], "little")
    return declared == len(data) and section_id == 0 and 16 < section_length <= len(data) - 6


def is_dicom_waveform(data: bytes) -> bool:
    """Whether ``data`` is a DICOM waveform object (SOP class or a WaveformSequence).

    Parameters
    ----------
    data
        DICOM Part 10 bytes; anything else gives ``False``.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = parse_dicom(data, stop_before_pixels=True)
            answer = str(ds.get("SOPClassUID", "")) in WAVEFORM_SOP_CLASSES or "WaveformSequence" in ds
        except DICOM_ERRORS as exc:  # InvalidInput is a ValueError
            logger.debug("not a readable DICOM while looking for a waveform: %s", exc)
            return False
    for warning in caught:
        logger.debug("DICOM warning while looking for a waveform: %s", warning.message)
    return answer


def parse_dicom(data: bytes, *, stop_before_pixels: bool = False) -> Dataset:
    """Parse DICOM Part 10 bytes, translating pydicom's errors.

    pydicom converts values lazily and may warn (e.g. about an invalid UID) whenever one is read;
    callers that want those warnings recorded rather than shown capture them around their use.

    Parameters
    ----------
    data
        DICOM Part 10 bytes.
    stop_before_pixels
        Skip the pixel data (faster for headers).

    Returns
    -------
    pydicom.dataset.Dataset

    Raises
    ------
    InvalidInput
        Not DICOM Part 10, or pydicom cannot parse it.
    """
    if not is_dicom(data):
        raise InvalidInput("not a DICOM Part 10 file (no 'DICM' marker at byte 128)")
    try:
        return pydicom.dcmread(io.BytesIO(data), stop_before_pixels=stop_before_pixels)
    except DICOM_ERRORS as exc:
        raise InvalidInput(f"DICOM file cannot be parsed (truncated or corrupt?): {exc}") from exc


def check_plain_file_name(name: str) -> str:
    """Return ``name`` if it is a plain file name; raise :class:`InvalidInput` otherwise.

    Raises
    ------
    InvalidInput
        The name is empty, ``.``/``..``, or contains ``/``, ``\\``, ``..`` or a NUL.
    """
    if not name or name in {".", ".."} or any(bad in name for bad in ("/", "\\", "..", "\x00")):
        raise InvalidInput(f"file name {name!r} is not a plain file name (no paths, no '..')")
    return name


def wfdb_signal_files(header_bytes: bytes) -> list[str]:
    """Name the signal files a WFDB header refers to, each once, in header order.

    Parameters
    ----------
    header_bytes
        The bytes of a ``.hea`` file.

    Returns
    -------
    list of str
        Plain file names (``~``, the WFDB "no file" marker, is left out).

    Raises
    ------
    InvalidInput
        The bytes are not a single-segment WFDB header, or a file name is not a plain name.
    """
    header = parse_wfdb_header(header_bytes)
    if header.n_segments is not None:
        raise InvalidInput(f"WFDB record {header.record_name!r} is multi-segment; not supported")
    names: list[str] = []
    for spec in header.signals:
        if spec.file_name != "~" and spec.file_name not in names:
            names.append(check_plain_file_name(spec.file_name))
    return names


def parse_wfdb_header(data: bytes) -> WfdbHeader:
    """Parse and validate a WFDB header's record line and signal lines.

    Parameters
    ----------
    data
        The bytes of a ``.hea`` file.

    Returns
    -------
    WfdbHeader
        For a multi-segment header, ``signals`` is empty and ``n_segments`` is set.

    Raises
    ------
    InvalidInput
        The bytes are not text, or a line does not follow the WFDB header syntax.
    """
    lines = _header_lines(data)
    if not lines:
        raise InvalidInput("WFDB header has no record line")
    header = _parse_record_line(lines[0])
    if header.n_segments is not None:
        return header
    body = lines[1:]
    if len(body) < header.n_signals:
        raise InvalidInput(f"WFDB header declares {header.n_signals} signals but has {len(body)} signal lines")
    signals = tuple(_parse_signal_line(line) for line in body[: header.n_signals])
    return dataclasses.replace(header, signals=signals)


def _header_lines(data: bytes) -> list[str]:
    """The header's non-blank, non-comment lines (comments start with ``#``)."""
    if len(data) > _MAX_HEADER_BYTES or b"\x00" in data:
        raise InvalidInput("not a WFDB header: binary content or too large")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    stripped = (line.strip() for line in text.splitlines())
    return [line for line in stripped if line and not line.startswith("#")]


def _parse_record_line(line: str) -> WfdbHeader:
    """Parse ``record_name[/seg] n_sig [fs[/counter][(base)] [n_samples [time [date]]]]``."""
    tokens = line.split()
    name_match = _RECORD_RE.match(tokens[0])
    if name_match is None or len(tokens) < 2 or not _UINT_RE.match(tokens[1]):
        raise InvalidInput(f"not a WFDB record line: {line[:80]!r}")
    fs: float | None = None
    if len(tokens) > 2:
        fs_match = _FS_RE.match(tokens[2])
        if fs_match is None:
            raise InvalidInput(f"WFDB record line has an invalid sampling frequency {tokens[2]!r}")
        fs = float(fs_match["fs"])
    if len(tokens) > 3 and not _UINT_RE.match(tokens[3]):
        raise InvalidInput(f"WFDB record line has an invalid sample count {tokens[3]!r}")
    nseg = name_match["nseg"]
    return WfdbHeader(
        record_name=name_match["name"],
        n_segments=int(nseg) if nseg is not None else None,
        n_signals=int(tokens[1]),
        fs=fs,
        n_samples=int(tokens[3]) if len(tokens) > 3 else None,
        signals=(),
        name_quirk=name_match["quirk"] is not None,
    )


def _parse_signal_line(line: str) -> WfdbSignalSpec:
    """Parse the file name and ``format[xspf][:skew][+offset]`` of one signal line."""
    tokens = line.split()
    fmt_match = _FMT_RE.match(tokens[1]) if len(tokens) > 1 else None
    if fmt_match is None or fmt_match["fmt"] not in _WFDB_FORMATS:
        raise InvalidInput(f"not a WFDB signal line (file name, then a known format): {line[:80]!r}")
    spf, offset = fmt_match["spf"], fmt_match["offset"]
    return WfdbSignalSpec(
        file_name=tokens[0],
        fmt=fmt_match["fmt"],
        samples_per_frame=int(spf) if spf else 1,
        byte_offset=int(offset) if offset else 0,
        description=" ".join(tokens[8:]),
    )

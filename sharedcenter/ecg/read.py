"""Read uploaded ECG files (WFDB, DICOM waveform) into the canonical :class:`EcgRecord`.

Every reader returns float32 millivolts of shape ``(n_samples, n_leads)`` with lead names
normalised to the standard spelling where they match one (``"AVR"`` -> ``"aVR"``, ``"Lead I"``
-> ``"I"``); other names (``"MLII"``) are kept.  Channels that are not voltages (a WFDB ``PLETH``
in ``NU``, a DICOM channel without sensitivity units) are left out and listed in
``metadata["dropped_channels"]``.  Every failure raises :class:`~sharedcenter.errors.InvalidInput`
(or :class:`~sharedcenter.errors.UnsupportedFormat`) with a message that names the problem.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import re
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import wfdb
from pydicom.dataset import Dataset
from pydicom.uid import UID
from pydicom.valuerep import DT

from sharedcenter.ecg.detect import (
    AECG,
    DICOM,
    DICOM_ERRORS,
    SCP_ECG,
    WFDB_HEADER,
    ZIP,
    WfdbHeader,
    check_plain_file_name,
    detect_format,
    parse_dicom,
    parse_wfdb_header,
    wfdb_signal_files,
)
from sharedcenter.ecg.record import STANDARD_LEADS, EcgRecord, FilterSettings, canonicalize
from sharedcenter.errors import InvalidInput, UnsupportedFormat

__all__ = [
    "MAX_ABS_MV",
    "MAX_FS_HZ",
    "MIN_FS_HZ",
    "make_record",
    "normalize_lead_name",
    "read_dicom_waveform",
    "read_ecg",
    "read_wfdb",
    "to_millivolts",
]

logger = logging.getLogger(__name__)

_LEAD_LOOKUP = {lead.lower(): lead for lead in STANDARD_LEADS}
_PARENTHESIS = re.compile(r"\([^)]*\)")
#: Millivolts per unit, keyed by the unit in lower case (WFDB header units, UCUM codes).
_MV_PER_UNIT = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "v": 1e3, "nv": 1e-6}
#: Bytes per sample of the WFDB formats whose size is fixed (FLAC formats 5xx are compressed).
_WFDB_BYTES_PER_SAMPLE = {
    "8": Fraction(1),
    "16": Fraction(2),
    "24": Fraction(3),
    "32": Fraction(4),
    "61": Fraction(2),
    "80": Fraction(1),
    "160": Fraction(2),
    "212": Fraction(3, 2),
    "310": Fraction(4, 3),
    "311": Fraction(4, 3),
}
#: Sampling rates an ECG can have (Hz); anything else is a corrupt or mislabelled file.
MIN_FS_HZ = 50.0
MAX_FS_HZ = 20000.0
#: Larger than any real ECG voltage (mV): a sample beyond it means wrong units or corruption.
MAX_ABS_MV = 100.0
_WFDB_ERRORS = (ValueError, OSError, IndexError, KeyError, TypeError, EOFError, AttributeError)


def normalize_lead_name(name: str) -> str:
    """Return the standard spelling of a lead name, or the name itself (stripped).

    ``"AVR"``, ``"avr"``, ``"Lead aVR"`` -> ``"aVR"``; ``"Lead I (Einthoven)"`` -> ``"I"``;
    ``"MLII"`` -> ``"MLII"``.
    """
    cleaned = " ".join(_PARENTHESIS.sub(" ", name).split())
    if cleaned.lower().startswith("lead "):
        cleaned = cleaned[5:].strip()
    return _LEAD_LOOKUP.get(cleaned.lower(), cleaned or name.strip())


def read_ecg(files: Mapping[str, bytes]) -> EcgRecord:
    """Read one ECG recording, dispatching on the files' content.

    Parameters
    ----------
    files
        Plain file names to bytes: one DICOM waveform file, one HL7 aECG file, one SCP-ECG
        file, one zip holding any of these or a WFDB record, or one WFDB header with its signal
        files.

    Returns
    -------
    EcgRecord

    Raises
    ------
    UnsupportedFormat
        No file is in a known ECG format.
    InvalidInput
        The files are not one recording, or the recording cannot be read (the message says why).
    """
    kinds = {name: detect_format(check_plain_file_name(name), data) for name, data in files.items()}
    single = _read_single_file_format(files, kinds)
    if single is not None:
        return single
    dicoms = [name for name, kind in kinds.items() if kind == DICOM]
    headers = [name for name, kind in kinds.items() if kind == WFDB_HEADER]
    if dicoms:
        if len(files) != 1:
            raise InvalidInput(f"send one DICOM waveform file on its own, got {len(files)} files")
        return read_dicom_waveform(files[dicoms[0]])
    if len(headers) == 1:
        return read_wfdb(_with_hea_name(files, headers[0]))
    if headers:
        raise InvalidInput(f"send one WFDB record at a time, got headers {', '.join(sorted(headers))}")
    _raise_if_broken_wfdb_header(files)
    names = ", ".join(sorted(files)) or "no files"
    raise UnsupportedFormat(f"none of {names} is a known ECG format (DICOM, WFDB, HL7 aECG, SCP-ECG, zip)")


def _raise_if_broken_wfdb_header(files: Mapping[str, bytes]) -> None:
    """Name the problem of a file that starts like a WFDB header but is not a valid one."""
    for name, data in files.items():
        if not name.lower().endswith(".hea"):
            continue
        try:
            parse_wfdb_header(data)
        except InvalidInput as exc:
            raise InvalidInput(f"{name}: {exc}") from exc


def _read_single_file_format(files: Mapping[str, bytes], kinds: Mapping[str, str | None]) -> EcgRecord | None:
    """Read a zip, aECG or SCP-ECG upload (each must come alone); None for other formats."""
    special = {name: kind for name, kind in kinds.items() if kind in (ZIP, AECG, SCP_ECG)}
    if not special:
        return None
    if len(files) != 1:
        raise InvalidInput(f"send a {', '.join(sorted(set(special.values())))} file on its own, got {len(files)} files")
    [(name, kind)] = special.items()
    if kind == ZIP:
        from sharedcenter.ecg.zipped import unzip_record

        inner = unzip_record(files[name])
        if any(detect_format(inner_name, data) == ZIP for inner_name, data in inner.items()):
            raise InvalidInput(f"{name}: a zip inside a zip is not accepted")
        return read_ecg(inner)
    if kind == AECG:
        from sharedcenter.ecg.aecg import read_aecg

        return read_aecg(files[name])
    from sharedcenter.ecg.scp import read_scp

    return read_scp(files[name])


def read_wfdb(files: Mapping[str, bytes]) -> EcgRecord:
    """Read a WFDB record (one ``.hea`` and the signal files it names).

    Parameters
    ----------
    files
        Plain file names to bytes; exactly one name ends in ``.hea``.

    Returns
    -------
    EcgRecord
        Physical values converted to millivolts from the header units (mV, uV, V).

    Raises
    ------
    InvalidInput
        No or several headers, a missing or truncated signal file, a header promising more
        samples than the files hold, no voltage signals, NaN samples or a bad sampling rate.
    """
    for name in files:
        check_plain_file_name(name)
    header_name = _single_header_name(files)
    header = parse_wfdb_header(files[header_name])
    if header.n_signals == 0:
        raise InvalidInput(f"WFDB header {header_name} declares zero signals (no leads)")
    signal_names = wfdb_signal_files(files[header_name])
    _check_signal_files(header, signal_names, files)
    record = _rdrecord(header, _repair_header(files[header_name], header), signal_names, files)
    return _wfdb_to_ecg(record, header)


def read_dicom_waveform(data: bytes) -> EcgRecord:
    """Read a DICOM waveform object (12-lead or general ECG).

    Parameters
    ----------
    data
        DICOM Part 10 bytes.

    Returns
    -------
    EcgRecord
        The first multiplex group that is not a median beat, in millivolts, with ``fs`` from
        SamplingFrequency, ``start_time`` from AcquisitionDateTime and the patient's id and name.

    Raises
    ------
    InvalidInput
        Not DICOM, unreadable, not a waveform, or no channel in voltage units.

    Notes
    -----
    pydicom's warnings about the file (an invalid UID, a truncated sequence) are logged and kept
    in ``metadata["dicom_warnings"]`` instead of being shown.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            record = _read_dicom_waveform(data)
        except InvalidInput:
            raise
        except DICOM_ERRORS as exc:  # pydicom reads values lazily: corruption surfaces on access
            raise InvalidInput(f"DICOM waveform file is corrupt: {type(exc).__name__}: {exc}") from exc
    notes = [str(warning.message) for warning in caught]
    for note in notes:
        logger.warning("DICOM waveform: %s", note)
    return dataclasses.replace(record, metadata=record.metadata | {"dicom_warnings": notes})


def _read_dicom_waveform(data: bytes) -> EcgRecord:
    """Read the waveform; see :func:`read_dicom_waveform`."""
    ds = parse_dicom(data)
    if "WaveformSequence" not in ds or not ds.WaveformSequence:
        sop = UID(str(ds.get("SOPClassUID", "")))
        raise InvalidInput(f"DICOM object is not a waveform: SOP class {sop} ({sop.name}) has no WaveformSequence")
    index = _choose_multiplex_group(ds.WaveformSequence)
    group = ds.WaveformSequence[index]
    try:
        values = ds.waveform_array(index)
    except DICOM_ERRORS as exc:
        raise InvalidInput(f"DICOM waveform group {index} cannot be decoded: {exc}") from exc
    channels = list(group.get("ChannelDefinitionSequence", []))
    if len(channels) != values.shape[1]:
        raise InvalidInput(f"DICOM waveform has {values.shape[1]} channels but {len(channels)} definitions")
    names = [_dicom_channel_name(item, i) for i, item in enumerate(channels)]
    scales = [_dicom_channel_scale(item) for item in channels]
    signal, leads, dropped = to_millivolts(values, names, scales)
    return make_record(
        signal,
        float(group.get("SamplingFrequency", 0) or 0),
        leads,
        "dicom-waveform",
        start_time=_dicom_start_time(ds),
        patient_id=str(ds.get("PatientID", "")),
        patient_name=str(ds.get("PatientName", "")),
        metadata=_dicom_metadata(ds, group, index, dropped),
        device=_dicom_device(ds),
        filters=_dicom_filters(channels),
    )


def _dicom_device(ds: Dataset) -> str:
    """Manufacturer, model and serial number, as far as the file gives them."""
    parts = (ds.get(keyword, "") for keyword in ("Manufacturer", "ManufacturerModelName", "DeviceSerialNumber"))
    return " ".join(str(part).strip() for part in parts if str(part or "").strip())


def _dicom_filters(channels: Sequence[Dataset]) -> FilterSettings:
    """The first channel's filter settings (high-pass = FilterLowFrequency, low-pass = FilterHighFrequency)."""
    if not channels:
        return FilterSettings()

    def value(keyword: str) -> float | None:
        raw = channels[0].get(keyword)
        try:
            return float(raw) if raw not in (None, "") else None
        except (TypeError, ValueError):
            return None

    return FilterSettings(value("FilterLowFrequency"), value("FilterHighFrequency"), value("NotchFilterFrequency"))


# --- WFDB -------------------------------------------------------------------------------------


def _with_hea_name(files: Mapping[str, bytes], header: str) -> Mapping[str, bytes]:
    """The files with the header (recognised by content) named ``*.hea`` as :func:`read_wfdb` wants."""
    if header.lower().endswith(".hea"):
        return files
    renamed = {name: data for name, data in files.items() if name != header}
    renamed[f"{header}.hea"] = files[header]
    return renamed


def _single_header_name(files: Mapping[str, bytes]) -> str:
    """The one ``.hea`` file name in ``files``."""
    headers = [name for name in files if name.lower().endswith(".hea")]
    if len(headers) != 1:
        found = ", ".join(sorted(headers)) or "none"
        raise InvalidInput(f"a WFDB record needs exactly one .hea file, found {found}")
    return headers[0]


def _check_signal_files(header: WfdbHeader, names: Sequence[str], files: Mapping[str, bytes]) -> None:
    """Every signal file is there and long enough for the samples the header promises."""
    missing = [name for name in names if name not in files]
    if missing:
        raise InvalidInput(f"WFDB header names signal file(s) not sent: {', '.join(missing)}")
    if header.n_samples is None:
        return
    for name in names:
        specs = [spec for spec in header.signals if spec.file_name == name]
        per_sample = _WFDB_BYTES_PER_SAMPLE.get(specs[0].fmt)
        if per_sample is None:
            continue
        frame = sum(spec.samples_per_frame for spec in specs)
        needed = specs[0].byte_offset + math.ceil(header.n_samples * frame * per_sample)
        if len(files[name]) < needed:
            raise InvalidInput(
                f"signal file {name} holds {len(files[name])} bytes but the header promises "
                f"{header.n_samples} samples ({needed} bytes): truncated file or wrong header"
            )


def _repair_header(data: bytes, header: WfdbHeader) -> bytes:
    """Drop a file extension from the record name token (a known CinC 2020 Georgia defect)."""
    if not header.name_quirk:
        return data
    logger.info("WFDB header of %s names the record with an extension; repaired", header.record_name)
    pattern = re.compile(rb"^(\s*)" + re.escape(header.record_name.encode()) + rb"\.\w+", re.MULTILINE)
    return pattern.sub(rb"\g<1>" + header.record_name.encode(), data, count=1)


def _rdrecord(
    header: WfdbHeader, header_bytes: bytes, signal_names: Sequence[str], files: Mapping[str, bytes]
) -> wfdb.Record:
    """Write the record to a private temporary directory and read it with ``wfdb.rdrecord``."""
    with tempfile.TemporaryDirectory(prefix="sharedcenter-wfdb-") as tmp:
        folder = Path(tmp)
        (folder / f"{header.record_name}.hea").write_bytes(header_bytes)
        for name in signal_names:
            (folder / name).write_bytes(files[name])
        try:
            return wfdb.rdrecord(str(folder / header.record_name), physical=True)
        except _WFDB_ERRORS as exc:
            raise InvalidInput(f"WFDB record {header.record_name} cannot be read: {exc}") from exc


def _wfdb_to_ecg(record: wfdb.Record, header: WfdbHeader) -> EcgRecord:
    """Convert a ``wfdb.Record`` in physical units to an :class:`EcgRecord` in millivolts."""
    if record.p_signal is None:
        raise InvalidInput(f"WFDB record {header.record_name} has no signal samples")
    units = [str(unit or "mV") for unit in (record.units or ["mV"] * record.n_sig)]
    scales = [_MV_PER_UNIT.get(unit.strip().lower()) for unit in units]
    names = [str(name or f"ch{i + 1}") for i, name in enumerate(record.sig_name or [None] * record.n_sig)]
    signal, leads, dropped = to_millivolts(record.p_signal, names, scales)
    metadata: dict[str, Any] = {
        "record_name": header.record_name,
        "comments": list(record.comments or []),
        "units": units,
        "dropped_channels": dropped,
        "header_repaired": header.name_quirk,
    }
    return make_record(
        signal,
        float(record.fs or 0),
        leads,
        "wfdb",
        start_time=getattr(record, "base_datetime", None),
        metadata=metadata,
    )


# --- DICOM ------------------------------------------------------------------------------------


def _choose_multiplex_group(groups: Sequence[Dataset]) -> int:
    """Index of the first multiplex group that is not a median or representative beat."""
    for index, group in enumerate(groups):
        label = str(group.get("MultiplexGroupLabel", "")).upper()
        if "MEDIAN" not in label and "REPRESENTATIVE" not in label:
            return index
    return 0


def _dicom_channel_name(item: Dataset, index: int) -> str:
    """A channel's lead name: ChannelSourceSequence code meaning, else ChannelLabel."""
    source = item.get("ChannelSourceSequence")
    meaning = str(source[0].get("CodeMeaning", "")) if source else ""
    label = str(item.get("ChannelLabel", "")) if meaning in ("", "Lead, unspecified") else meaning
    label = label or meaning
    return normalize_lead_name(label) if label.strip() else f"ch{index + 1}"


def _dicom_channel_scale(item: Dataset) -> float | None:
    """Millivolts per unit of a channel after pydicom applied its sensitivity (None: not a voltage)."""
    units = item.get("ChannelSensitivityUnitsSequence")
    if "ChannelSensitivity" not in item or not units:
        return None
    return _MV_PER_UNIT.get(str(units[0].get("CodeValue", "")).strip().lower())


def _dicom_start_time(ds: Dataset) -> dt.datetime | None:
    """AcquisitionDateTime as a plain ``datetime``, or None if absent or unparseable."""
    value = ds.get("AcquisitionDateTime")
    if not value:
        return None
    try:
        parsed = value if isinstance(value, dt.datetime) else DT(str(value))
    except ValueError:
        logger.warning("unparseable AcquisitionDateTime %r; start time left empty", str(value))
        return None
    return dt.datetime.combine(parsed.date(), parsed.timetz())


def _dicom_metadata(ds: Dataset, group: Dataset, index: int, dropped: list[str]) -> dict[str, Any]:
    """Identifying attributes kept with the record."""
    return {
        "sop_class_uid": str(ds.get("SOPClassUID", "")),
        "sop_instance_uid": str(ds.get("SOPInstanceUID", "")),
        "study_instance_uid": str(ds.get("StudyInstanceUID", "")),
        "multiplex_group": index,
        "multiplex_group_label": str(group.get("MultiplexGroupLabel", "")),
        "dropped_channels": dropped,
    }


# --- shared -----------------------------------------------------------------------------------


def to_millivolts(
    values: npt.NDArray[Any], names: Sequence[str], scales: Sequence[float | None]
) -> tuple[npt.NDArray[np.float32], list[str], list[str]]:
    """Keep the voltage channels, scaled to mV; return (signal, lead names, dropped channel names)."""
    keep = [i for i, scale in enumerate(scales) if scale is not None]
    dropped = [names[i] for i, scale in enumerate(scales) if scale is None]
    if not keep:
        raise InvalidInput(f"no ECG (voltage) channel among {', '.join(names) or 'zero channels'}")
    factors = np.asarray([scales[i] for i in keep], dtype=np.float64)
    signal = (np.asarray(values, dtype=np.float64)[:, keep] * factors).astype(np.float32)
    return signal, [normalize_lead_name(names[i]) for i in keep], dropped


def make_record(
    signal: npt.NDArray[np.float32], fs: float, leads: Sequence[str], source_format: str, **extra: Any
) -> EcgRecord:
    """Validate samples and rate, then build the record."""
    if signal.ndim != 2 or signal.shape[0] == 0 or signal.shape[1] == 0:
        raise InvalidInput(f"ECG has no samples or no leads (shape {signal.shape})")
    bad = ~np.isfinite(signal)
    if bad.any():
        where = [leads[int(i)] for i in np.flatnonzero(bad.any(axis=0))]
        raise InvalidInput(f"ECG has {int(bad.sum())} missing (NaN) or infinite samples in lead(s) {', '.join(where)}")
    if not (math.isfinite(fs) and MIN_FS_HZ <= fs <= MAX_FS_HZ):
        raise InvalidInput(f"ECG sampling frequency {fs} Hz is outside {MIN_FS_HZ:g}-{MAX_FS_HZ:g} Hz")
    peak = float(np.abs(signal).max())
    if peak > MAX_ABS_MV:
        worst = leads[int(np.abs(signal).max(axis=0).argmax())]
        raise InvalidInput(
            f"ECG amplitude {peak:.0f} mV in lead {worst} is absurd (limit {MAX_ABS_MV:g} mV): wrong units or corrupt"
        )
    if len(set(leads)) != len(leads):
        raise InvalidInput(f"ECG names a lead twice: {', '.join(leads)}")
    record = EcgRecord(
        signal=np.ascontiguousarray(signal), fs=fs, leads=tuple(leads), source_format=source_format, **extra
    )
    return canonicalize(record)

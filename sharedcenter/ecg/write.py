"""Write the canonical record as a DICOM ECG waveform or as a WFDB record.

:func:`write_dicom_ecg` makes a 12-Lead ECG Waveform object (PS3.3 A.34.3) when the record fits
that IOD (200-1000 Hz, at most 13 channels, at most 16384 samples) and a General ECG Waveform
(A.34.4) otherwise, with channels coded from CID 3001 (MDC), samples as 16-bit integers in
microvolts (a coarser step only when a lead exceeds the 16-bit range).  The output validates with
``dciodvfy`` (dicom3tools).  :func:`write_wfdb` writes a format-16 record at 1000 ADC units per mV.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import tempfile
from pathlib import Path

import numpy as np
import numpy.typing as npt
import wfdb
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from sharedcenter import __version__
from sharedcenter.ecg.record import EcgRecord

__all__ = [
    "GENERAL_ECG_SOP_CLASS",
    "TWELVE_LEAD_SOP_CLASS",
    "dicom_uids",
    "write_dicom_ecg",
    "write_wfdb",
]

TWELVE_LEAD_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.9.1.1"
GENERAL_ECG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.9.1.2"
_UID_PREFIX = "1.2.826.0.1.3680043.8.498."
#: MDC codes (CID 3001) of the standard leads: code value, code meaning.
_MDC_LEADS: dict[str, tuple[str, str]] = {
    "I": ("2:1", "Lead I"), "II": ("2:2", "Lead II"), "III": ("2:61", "Lead III"),
    "aVR": ("2:62", "Lead aVR"), "aVL": ("2:63", "Lead aVL"), "aVF": ("2:64", "Lead aVF"),
    "V1": ("2:3", "Lead V1"), "V2": ("2:4", "Lead V2"), "V3": ("2:5", "Lead V3"),
    "V4": ("2:6", "Lead V4"), "V5": ("2:7", "Lead V5"), "V6": ("2:8", "Lead V6"),
}  # fmt: skip
_UNSPECIFIED_LEAD = ("2:0", "Lead, unspecified")
_MICROVOLT_LIMIT = 32767


def dicom_uids(seed: str) -> tuple[str, str, str]:
    """Study, series and SOP instance UIDs that follow from ``seed`` (the same seed, the same UIDs).

    Parameters
    ----------
    seed
        A stable text, such as the ECG record key, so that writing the same record twice gives
        the same instance and the DICOM store treats the second copy as a duplicate.
    """
    return tuple(generate_uid(_UID_PREFIX, entropy_srcs=[seed, part]) for part in ("study", "series", "sop"))  # type: ignore[return-value]


def _sop_class(record: EcgRecord) -> str:
    fits = 200 <= record.fs <= 1000 and len(record.leads) <= 13 and record.n_samples <= 16384
    return TWELVE_LEAD_SOP_CLASS if fits else GENERAL_ECG_SOP_CLASS


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def _quantize(signal: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.int16], list[float]]:
    """Samples as int16 and each channel's sensitivity in microvolts per unit."""
    peak_uv = np.abs(signal.astype(np.float64)).max(axis=0) * 1000.0
    steps = np.maximum(1.0, np.ceil(peak_uv / _MICROVOLT_LIMIT))
    values = np.rint(signal.astype(np.float64) * 1000.0 / steps)
    return values.astype(np.int16), [float(step) for step in steps]


def _channel(record: EcgRecord, index: int, sensitivity: float) -> Dataset:
    name = record.leads[index]
    code, meaning = _MDC_LEADS.get(name, _UNSPECIFIED_LEAD)
    channel = Dataset()
    channel.WaveformChannelNumber = index + 1
    channel.ChannelLabel = name[:64]
    channel.ChannelSourceSequence = DicomSequence([_code(code, "MDC", meaning)])
    channel.ChannelSensitivity = f"{sensitivity:g}"
    channel.ChannelSensitivityUnitsSequence = DicomSequence([_code("uV", "UCUM", "microvolt")])
    channel.ChannelSensitivityCorrectionFactor = "1"
    channel.ChannelBaseline = "0"
    channel.ChannelSampleSkew = "0"
    channel.WaveformBitsStored = 16
    filters = record.filters
    if filters.highpass_hz is not None:
        channel.FilterLowFrequency = f"{filters.highpass_hz:g}"
    if filters.lowpass_hz is not None:
        channel.FilterHighFrequency = f"{filters.lowpass_hz:g}"
    if filters.notch_hz is not None:
        channel.NotchFilterFrequency = f"{filters.notch_hz:g}"
    return channel


def _waveform_group(record: EcgRecord) -> Dataset:
    values, sensitivities = _quantize(record.signal)
    group = Dataset()
    group.WaveformOriginality = "ORIGINAL"
    group.NumberOfWaveformChannels = len(record.leads)
    group.NumberOfWaveformSamples = record.n_samples
    group.SamplingFrequency = f"{record.fs:g}"
    group.MultiplexGroupLabel = "RHYTHM"
    group.ChannelDefinitionSequence = DicomSequence(
        [_channel(record, i, sensitivity) for i, sensitivity in enumerate(sensitivities)]
    )
    group.WaveformBitsAllocated = 16
    group.WaveformSampleInterpretation = "SS"
    group.WaveformData = np.ascontiguousarray(values).astype("<i2").tobytes()
    return group


def _patient_and_study(ds: Dataset, record: EcgRecord, when: dt.datetime, uids: tuple[str, str, str]) -> None:
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = record.patient_name[:64]
    ds.PatientID = record.patient_id[:64]
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = uids
    ds.StudyDate = ds.ContentDate = when.strftime("%Y%m%d")
    ds.StudyTime = ds.ContentTime = when.strftime("%H%M%S")
    ds.AcquisitionDateTime = when.strftime("%Y%m%d%H%M%S")
    ds.ReferringPhysicianName = ""
    ds.StudyID = ""
    ds.AccessionNumber = ""
    ds.Modality = "ECG"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1


def write_dicom_ecg(record: EcgRecord, *, seed: str | None = None) -> bytes:
    """Write ``record`` as a DICOM ECG waveform (Part 10, explicit VR little endian).

    Parameters
    ----------
    record
        The canonical record.
    seed
        Makes the UIDs reproducible (see :func:`dicom_uids`); random UIDs when ``None``.

    Returns
    -------
    bytes
        A 12-Lead ECG Waveform object, or a General ECG Waveform object when the record is
        longer than 16384 samples, has more than 13 leads or a rate outside 200-1000 Hz.
    """
    uids = dicom_uids(seed) if seed is not None else (generate_uid(), generate_uid(), generate_uid())
    sop_class = _sop_class(record)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(uids[2])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    _patient_and_study(ds, record, record.start_time or dt.datetime(1900, 1, 1), uids)
    ds.Manufacturer = record.device[:64]
    ds.SoftwareVersions = f"sharedcenter {__version__}"
    ds.AcquisitionContextSequence = DicomSequence([])
    ds.WaveformSequence = DicomSequence([_waveform_group(record)])
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def write_wfdb(record: EcgRecord, name: str = "ecg") -> dict[str, bytes]:
    """Write ``record`` as a WFDB record: ``name.hea`` and ``name.dat`` (format 16, 1000 units/mV).

    Parameters
    ----------
    record
        The canonical record.
    name
        Record name (letters, digits, underscore).

    Returns
    -------
    dict
        File name to bytes.

    Raises
    ------
    ValueError
        ``name`` is not a WFDB record name, or a lead exceeds the format-16 range (±32.767 mV).
    """
    if not name or not name.replace("_", "").isalnum() or not name.isascii():
        raise ValueError(f"name must be letters, digits and underscores, got {name!r}")
    digital = np.rint(record.signal.astype(np.float64) * 1000.0)
    if np.abs(digital).max() > _MICROVOLT_LIMIT:
        raise ValueError("a lead exceeds ±32.767 mV, which WFDB format 16 at 1000 units/mV cannot hold")
    comments = [f"source_format: {record.source_format}"]
    if record.device:
        comments.append(f"device: {record.device}")
    with tempfile.TemporaryDirectory(prefix="sharedcenter-wfdb-") as tmp:
        wfdb.wrsamp(
            name, fs=record.fs, units=["mV"] * len(record.leads), sig_name=list(record.leads),
            d_signal=digital.astype(np.int32), fmt=["16"] * len(record.leads), adc_gain=[1000.0] * len(record.leads),
            baseline=[0] * len(record.leads), comments=comments, write_dir=tmp,
            base_date=record.start_time.date() if record.start_time else None,
            base_time=record.start_time.time() if record.start_time else None,
        )  # fmt: skip
        folder = Path(tmp)
        return {file: (folder / file).read_bytes() for file in (f"{name}.hea", f"{name}.dat")}


def content_seed(data: bytes) -> str:
    """A seed for :func:`dicom_uids` from bytes (their SHA-256)."""
    return hashlib.sha256(data).hexdigest()

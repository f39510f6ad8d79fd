"""ECG recordings: the canonical record, format detection and the readers.

Uploads (WFDB, CinC .mat, zips of them, DICOM waveform, HL7 aECG, SCP-ECG) are recognised by
content (:func:`detect_format`), read into one :class:`EcgRecord`
(float32 millivolts, shape ``(n_samples, n_leads)``) by :func:`read_ecg`, and every reader failure
is an :class:`~sharedcenter.errors.InvalidInput` that names the problem.
"""

from __future__ import annotations

from sharedcenter.ecg.aecg import read_aecg, write_aecg
from sharedcenter.ecg.detect import (
    DICOM,
    ECG_WAVEFORM_SOP_CLASSES,
    WAVEFORM_SOP_CLASSES,
    WFDB_HEADER,
    detect_format,
    is_dicom_waveform,
    wfdb_signal_files,
)
from sharedcenter.ecg.quality import QualityReport, Verdict, assess_quality
from sharedcenter.ecg.read import normalize_lead_name, read_dicom_waveform, read_ecg, read_wfdb
from sharedcenter.ecg.record import (
    STANDARD_LEADS,
    EcgRecord,
    FilterSettings,
    canonicalize,
    record_from_bytes,
    record_to_bytes,
)
from sharedcenter.ecg.scp import read_scp, write_scp
from sharedcenter.ecg.summary import summarize_ecg
from sharedcenter.ecg.write import write_dicom_ecg, write_wfdb
from sharedcenter.ecg.zipped import unzip_record

__all__ = [
    "DICOM",
    "ECG_WAVEFORM_SOP_CLASSES",
    "STANDARD_LEADS",
    "WAVEFORM_SOP_CLASSES",
    "WFDB_HEADER",
    "EcgRecord",
    "FilterSettings",
    "QualityReport",
    "Verdict",
    "assess_quality",
    "canonicalize",
    "detect_format",
    "is_dicom_waveform",
    "normalize_lead_name",
    "read_aecg",
    "read_dicom_waveform",
    "read_ecg",
    "read_scp",
    "read_wfdb",
    "record_from_bytes",
    "record_to_bytes",
    "summarize_ecg",
    "unzip_record",
    "wfdb_signal_files",
    "write_aecg",
    "write_dicom_ecg",
    "write_scp",
    "write_wfdb",
]

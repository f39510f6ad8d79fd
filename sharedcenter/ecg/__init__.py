"""ECG recordings: the canonical record, format detection and the readers.

Uploads are recognised by content (:func:`detect_format`), read into one :class:`EcgRecord`
(float32 millivolts, shape ``(n_samples, n_leads)``) by :func:`read_ecg`, and every reader failure
is an :class:`~sharedcenter.errors.InvalidInput` that names the problem.
"""

from __future__ import annotations

from sharedcenter.ecg.detect import (
    DICOM,
    ECG_WAVEFORM_SOP_CLASSES,
    WAVEFORM_SOP_CLASSES,
    WFDB_HEADER,
    detect_format,
    is_dicom_waveform,
    wfdb_signal_files,
)
from sharedcenter.ecg.read import normalize_lead_name, read_dicom_waveform, read_ecg, read_wfdb
from sharedcenter.ecg.record import STANDARD_LEADS, EcgRecord

__all__ = [
    "DICOM",
    "ECG_WAVEFORM_SOP_CLASSES",
    "STANDARD_LEADS",
    "WAVEFORM_SOP_CLASSES",
    "WFDB_HEADER",
    "EcgRecord",
    "detect_format",
    "is_dicom_waveform",
    "normalize_lead_name",
    "read_dicom_waveform",
    "read_ecg",
    "read_wfdb",
    "wfdb_signal_files",
]

"""Data factories for the tests: real sample files, re-identified per test so tests never collide."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

__all__ = ["dicom_bytes", "simulated_wfdb"]


def dicom_bytes(name: str = "CT_small.dcm", *, study_uid: str | None = None, **tags: object) -> bytes:
    """One of pydicom's real test files with fresh UIDs (or the given study UID) and ``tags`` set."""
    ds = pydicom.dcmread(str(get_testdata_file(name)))
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    for key, value in tags.items():
        setattr(ds, key, value)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def simulated_wfdb(folder: Path, name: str = "sim", heart_rate: int = 72, seed: int = 1) -> dict[str, bytes]:
    """A 10 s 12-lead ECG simulated by neurokit2 at a known rate, written as WFDB (.hea + .dat)."""
    import neurokit2 as nk
    import wfdb

    leads = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    sig = nk.ecg_simulate(duration=10, sampling_rate=500, heart_rate=heart_rate, method="multileads",
                          random_state=seed)
    folder.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(name, fs=500, units=["mV"] * 12, sig_name=leads, p_signal=np.asarray(sig[leads], dtype=float),
                fmt=["16"] * 12, write_dir=str(folder))
    return {f"{name}.hea": (folder / f"{name}.hea").read_bytes(), f"{name}.dat": (folder / f"{name}.dat").read_bytes()}

"""The ECG viewer's waveform: the canonical record read from the originals, downsampled for drawing.

The originals are read back through the record's manifest (``ecg/records/<key>.json``) with
:func:`sharedcenter.ecg.read.read_ecg`, so the viewer shows exactly what the reader of the
format gives.  For the page the signal is cut to a window (10 s by default), low-pass filtered
and decimated by an integer factor to at most ``max_fs`` (500 Hz: 2 ms per sample, finer than a
caliper can be placed at 50 mm/s on a screen), and sent as integer microvolts.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import numpy.typing as npt

from sharedcenter.ecg.read import read_ecg
from sharedcenter.ecg.record import EcgRecord
from sharedcenter.errors import InvalidInput, NotFound
from sharedcenter.storage import ObjectStore

__all__ = ["load_record", "waveform_json"]


def load_record(store: ObjectStore, record_key: str | None) -> EcgRecord:
    """The canonical record of a study's ECG, read from its original files.

    Raises
    ------
    NotFound
        The study has no ECG record, or its manifest or an original is missing.
    """
    if not record_key:
        raise NotFound("the study has no ECG record")
    manifest = json.loads(store.get(f"ecg/records/{record_key}.json"))
    files = {name: store.get(f"ecg/original/{sha}") for name, sha in manifest["files"].items()}
    return read_ecg(files)


def _decimate(signal: npt.NDArray[np.float32], factor: int) -> npt.NDArray[np.float64]:
    if factor <= 1:
        return signal.astype(np.float64)
    from scipy.signal import decimate

    return np.asarray(decimate(signal.astype(np.float64), factor, ftype="fir", axis=0, zero_phase=True))


def waveform_json(record: EcgRecord, *, start_s: float = 0.0, seconds: float = 10.0,
                  max_fs: float = 500.0) -> dict[str, Any]:
    """The window ``[start_s, start_s + seconds)`` of every lead as integer microvolts.

    Raises
    ------
    InvalidInput
        A window outside the recording, or longer than 60 s.
    """
    if not 0 < seconds <= 60 or start_s < 0 or start_s >= record.duration_s:
        raise InvalidInput(f"window start {start_s} s, length {seconds} s is outside the "
                           f"{record.duration_s:.1f} s recording (at most 60 s at a time)")
    first = int(start_s * record.fs)
    part = record.signal[first:first + int(math.ceil(seconds * record.fs))]
    factor = max(1, int(math.ceil(record.fs / max_fs)))
    data = _decimate(part, factor)
    microvolts = np.rint(np.nan_to_num(data) * 1000.0).astype(np.int64)
    return {
        "fs": record.fs / factor, "source_fs": record.fs, "start_s": start_s,
        "seconds": round(data.shape[0] * factor / record.fs, 3), "duration_s": round(record.duration_s, 3),
        "units": "uV", "leads": list(record.leads), "derived_leads": list(record.derived_leads),
        "source_format": record.source_format,
        "samples": {lead: microvolts[:, i].tolist() for i, lead in enumerate(record.leads)},
    }

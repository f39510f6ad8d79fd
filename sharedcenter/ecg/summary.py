"""The canonical summary of an ECG file: what ``sharedcenter ecg inspect`` prints."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from sharedcenter.ecg.quality import assess_quality
from sharedcenter.ecg.read import read_ecg

__all__ = ["summarize_ecg"]


def summarize_ecg(files: Mapping[str, bytes]) -> dict[str, Any]:
    """Read one recording and check its quality.

    Parameters
    ----------
    files
        Plain file names to bytes, as :func:`~sharedcenter.ecg.read.read_ecg` takes them.

    Returns
    -------
    dict
        ``format``, ``leads``, ``derived_leads``, ``fs``, ``samples``, ``duration_s``,
        ``start_time``, ``patient_id``, ``device``, ``filters``, ``quality`` (verdict and per-lead
        findings) and ``timings``.

    Raises
    ------
    InvalidInput
        The files cannot be read (the message says why).
    """
    start = time.perf_counter()
    record = read_ecg(files)
    parsed = time.perf_counter()
    quality = assess_quality(record).to_json()
    return {
        "format": record.source_format,
        "leads": list(record.leads),
        "derived_leads": list(record.derived_leads),
        "fs": record.fs,
        "samples": record.n_samples,
        "duration_s": round(record.duration_s, 3),
        "start_time": record.start_time.isoformat() if record.start_time else None,
        "patient_id": record.patient_id,
        "device": record.device,
        "filters": record.filters.to_json(),
        "quality": quality,
        "timings": {"parse_s": round(parsed - start, 4), "quality_s": round(time.perf_counter() - parsed, 4)},
    }

"""The canonical ECG record every reader produces and every consumer (AI, viewer, report) reads.

A record holds float32 millivolts of shape ``(n_samples, n_leads)``.  :func:`canonicalize` puts
the leads in the standard order (I, II, III, aVR, aVL, aVF, V1-V6; other leads keep their places) and
computes the derived limb leads (III, aVR, aVL, aVF) when a format stores only I and II.
:func:`record_to_bytes` / :func:`record_from_bytes` are the stored form (an ``.npz`` without
pickles) kept next to the original bytes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import zipfile
from typing import Any

import numpy as np
import numpy.typing as npt

from sharedcenter.errors import InvalidInput

__all__ = [
    "DERIVED_LIMB_LEADS",
    "STANDARD_LEADS",
    "EcgRecord",
    "FilterSettings",
    "canonicalize",
    "record_from_bytes",
    "record_to_bytes",
]

#: The standard 12-lead order.
STANDARD_LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
#: The limb leads that follow from I and II (Einthoven and Goldberger).
DERIVED_LIMB_LEADS: tuple[str, ...] = ("III", "aVR", "aVL", "aVF")


@dataclasses.dataclass(frozen=True, slots=True)
class FilterSettings:
    """Acquisition filters as the source states them (``None``: not given)."""

    highpass_hz: float | None = None
    lowpass_hz: float | None = None
    notch_hz: float | None = None

    def to_json(self) -> dict[str, float | None]:
        """The settings as a JSON object."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True, slots=True)
class EcgRecord:
    """One ECG recording: float32 millivolts, shape ``(n_samples, n_leads)``, leads named."""

    signal: npt.NDArray[np.float32]
    fs: float
    leads: tuple[str, ...]
    source_format: str
    start_time: dt.datetime | None = None
    patient_id: str = ""
    patient_name: str = ""
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)
    device: str = ""
    filters: FilterSettings = dataclasses.field(default_factory=FilterSettings)
    derived_leads: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.signal.ndim != 2 or self.signal.shape[1] != len(self.leads):
            raise ValueError(
                f"signal shape {self.signal.shape} does not match {len(self.leads)} lead names"
            )
        if not self.fs > 0:
            raise ValueError(f"fs must be positive, got {self.fs}")

    @property
    def duration_s(self) -> float:
        """Length of the recording in seconds."""
        return float(self.signal.shape[0] / self.fs)

    @property
    def n_samples(self) -> int:
        """Samples per lead."""
        return int(self.signal.shape[0])

    def lead(self, name: str) -> npt.NDArray[np.float32]:
        """One lead's samples; raises KeyError naming the leads there are."""
        try:
            return self.signal[:, self.leads.index(name)]
        except ValueError:
            raise KeyError(f"lead {name!r} not in record (has {', '.join(self.leads)})") from None


def _derive_limb_leads(record: EcgRecord) -> EcgRecord:
    """Add III, aVR, aVL, aVF from I and II where they are missing."""
    if "I" not in record.leads or "II" not in record.leads:
        return record
    lead_i = record.lead("I").astype(np.float64)
    lead_ii = record.lead("II").astype(np.float64)
    formulas = {
        "III": lead_ii - lead_i,
        "aVR": -(lead_i + lead_ii) / 2,
        "aVL": lead_i - lead_ii / 2,
        "aVF": lead_ii - lead_i / 2,
    }
    missing = [name for name in DERIVED_LIMB_LEADS if name not in record.leads]
    if not missing:
        return record
    extra = np.stack([formulas[name] for name in missing], axis=1).astype(np.float32)
    return dataclasses.replace(
        record,
        signal=np.concatenate([record.signal, extra], axis=1),
        leads=record.leads + tuple(missing),
        derived_leads=record.derived_leads + tuple(missing),
    )


def canonicalize(record: EcgRecord) -> EcgRecord:
    """The record in canonical form: derived limb leads added, leads in the standard order.

    Parameters
    ----------
    record
        Any record a reader produced.

    Returns
    -------
    EcgRecord
        The standard leads in :data:`STANDARD_LEADS` order in the places standard leads held
        (other leads, such as ``MLII`` or ``vx``, keep their places); float32, C-contiguous.
        III, aVR, aVL and aVF are computed from I and II
        when missing and named in ``derived_leads``.
    """
    record = _derive_limb_leads(record)
    standard = iter(record.leads.index(name) for name in STANDARD_LEADS if name in record.leads)
    order = [next(standard) if name in STANDARD_LEADS else i for i, name in enumerate(record.leads)]
    if order == list(range(len(record.leads))) and record.signal.dtype == np.float32:
        return record
    signal = np.ascontiguousarray(record.signal[:, order], dtype=np.float32)
    return dataclasses.replace(record, signal=signal, leads=tuple(record.leads[i] for i in order))


def _header_json(record: EcgRecord) -> dict[str, Any]:
    """Everything but the samples, as JSON."""
    return {
        "fs": record.fs,
        "leads": list(record.leads),
        "source_format": record.source_format,
        "start_time": record.start_time.isoformat() if record.start_time else None,
        "patient_id": record.patient_id,
        "patient_name": record.patient_name,
        "device": record.device,
        "filters": record.filters.to_json(),
        "derived_leads": list(record.derived_leads),
        "metadata": record.metadata,
    }


def record_to_bytes(record: EcgRecord) -> bytes:
    """The stored form of a record: an uncompressed ``.npz`` with ``signal`` and ``header`` (JSON).

    Parameters
    ----------
    record
        The canonical record.

    Returns
    -------
    bytes
        Readable with ``numpy.load(..., allow_pickle=False)`` or :func:`record_from_bytes`.
    """
    header = json.dumps(_header_json(record), ensure_ascii=False, default=str).encode()
    out = io.BytesIO()
    np.savez(out, signal=record.signal, header=np.frombuffer(header, dtype=np.uint8))
    return out.getvalue()


def record_from_bytes(data: bytes) -> EcgRecord:
    """Read a record stored by :func:`record_to_bytes`.

    Raises
    ------
    InvalidInput
        The bytes are not a stored record.
    """
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            signal = np.asarray(npz["signal"], dtype=np.float32)
            header = json.loads(bytes(npz["header"]).decode())
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise InvalidInput(f"not a stored canonical ECG record: {exc}") from exc
    start = header.get("start_time")
    return EcgRecord(
        signal=signal,
        fs=float(header["fs"]),
        leads=tuple(header["leads"]),
        source_format=str(header["source_format"]),
        start_time=dt.datetime.fromisoformat(start) if start else None,
        patient_id=str(header.get("patient_id", "")),
        patient_name=str(header.get("patient_name", "")),
        metadata=dict(header.get("metadata", {})),
        device=str(header.get("device", "")),
        filters=FilterSettings(**header.get("filters", {})),
        derived_leads=tuple(header.get("derived_leads", [])),
    )

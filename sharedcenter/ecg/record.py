"""The canonical ECG record every reader produces and every consumer (AI, viewer, report) reads."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["STANDARD_LEADS", "EcgRecord"]

#: The standard 12-lead order.
STANDARD_LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")


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

    def __post_init__(self) -> None:
        if self.signal.ndim != 2 or self.signal.shape[1] != len(self.leads):
            raise ValueError(
                f"signal shape {self.signal.shape} does not match {len(self.leads)} lead names"
            )
        if not self.fs > 0:
            raise ValueError(f"fs must be positive, got {self.fs}")

    @property
    def duration_s(self) -> float:
        return float(self.signal.shape[0] / self.fs)

    def lead(self, name: str) -> npt.NDArray[np.float32]:
        """One lead's samples; raises KeyError naming the leads there are."""
        try:
            return self.signal[:, self.leads.index(name)]
        except ValueError:
            raise KeyError(f"lead {name!r} not in record (has {', '.join(self.leads)})") from None

"""Plain results of a pre-read pipeline: no database, no HTTP."""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["Finding", "PrereadResult"]


@dataclasses.dataclass(frozen=True, slots=True)
class Finding:
    """One statement of a pre-read, with where it came from."""

    code: str
    label: str
    label_zh: str
    probability: float | None = None
    threshold: float | None = None
    flagged: bool = False
    critical: bool = False
    #: "criteria" (rule-based), "model" (a learned model) or "measurement"
    source: str = "criteria"
    evidence: str = ""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True, slots=True)
class PrereadResult:
    """An automatic pre-read.  Always preliminary: a physician must review it."""

    algorithm: str
    version: str
    parameters: dict[str, Any]
    findings: list[Finding]
    measurements: dict[str, Any]
    preliminary_text: str
    preliminary_text_en: str
    timings: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def critical(self) -> bool:
        return any(f.critical for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["critical"] = self.critical
        return data

"""The core side of upload-time ECG quality: keep the verdict with the study as an AIResult row.

The row is written in the ingest transaction and never changes the study's state; the pre-read
(:mod:`sharedcenter.studies.preread`) still runs and stores its own row beside it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sharedcenter.db.models import AIResult

__all__ = ["record_quality"]


def record_quality(session: Session, study_id: int, quality: dict[str, Any]) -> AIResult:
    """Store an ECG quality report (``QualityReport.to_json()``) for ``study_id``; idempotent.

    Parameters
    ----------
    session
        The ingest transaction's session.
    study_id
        The study the recording became.
    quality
        The report as JSON, with ``algorithm`` and ``version``.

    Returns
    -------
    AIResult
        The stored row (the existing one when the same algorithm version was stored before).
    """
    row = session.scalar(select(AIResult).where(
        AIResult.study_id == study_id, AIResult.algorithm == quality["algorithm"],
        AIResult.algorithm_version == quality["version"]))  # fmt: skip
    if row is not None:
        return row
    repeat = quality["verdict"] == "repeat_recording"
    row = AIResult(
        study_id=study_id, algorithm=quality["algorithm"], algorithm_version=quality["version"],
        parameters={"kind": "signal_quality"}, findings=quality["findings"],
        measurements={"verdict": quality["verdict"], "per_lead": quality["per_lead"],
                      "reference_sqi": quality["reference_sqi"], "preliminary_text_en": quality["verdict_en"]},
        preliminary_text=f"信号质量：{quality['verdict_zh']}"
        + ("；".join(["", *quality["reasons_zh"]]) if repeat else ""),
        timings=quality.get("timings", {}), critical=False,
    )  # fmt: skip
    session.add(row)
    return row

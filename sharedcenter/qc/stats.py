"""QC statistics: AI-vs-specialist agreement per model and per center, QC verdicts, turnaround.

Agreement, as defined for what the AI reads today (the ECG rate pre-read): the AI's heart-rate class
(``bradycardia`` or ``tachycardia`` when it flagged that finding, else ``normal-rate``; a pre-read that
could not measure the rate, or whose detectors disagreed, is left out) against the class the signed
report states: its findings and impression mention 心动过缓/bradycardia, 心动过速/tachycardia, or
neither (``normal-rate``).  They agree when the classes are equal.  Only the current signed version of
each study counts.  Imaging pre-reads make no classification yet, so they count as ``not_comparable``.

Turnaround: minutes from a study's arrival to its first signed version, median and 90th percentile
per center.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sharedcenter.db.models import AIResult, QcReview, Report, Study
from sharedcenter.enums import ReportStatus

__all__ = ["AGREEMENT_DEFINITION", "ai_rate_class", "qc_stats", "specialist_rate_class"]

AGREEMENT_DEFINITION = (
    "ECG heart-rate class of the AI pre-read (bradycardia / tachycardia / normal-rate) equals the class "
    "the signed report's text states (心动过缓/bradycardia, 心动过速/tachycardia, else normal-rate); "
    "pre-reads without a measurable, consistent rate and imaging pre-reads are not compared."
)
_TERMS = {"bradycardia": ("心动过缓", "bradycardia"), "tachycardia": ("心动过速", "tachycardia")}
_UNCOMPARABLE = {"rate-not-measurable", "rate-uncertain"}


def ai_rate_class(ai: AIResult) -> str | None:
    """The AI's rate class, or None when it makes none (imaging, or no reliable rate)."""
    codes = {str(f.get("code")) for f in ai.findings if isinstance(f, dict)}
    if "heart_rate_bpm" not in ai.measurements or codes & _UNCOMPARABLE:
        return None
    for cls in _TERMS:
        if cls in codes:
            return cls
    return "normal-rate"


def specialist_rate_class(report: Report) -> str:
    """The rate class the signed report's text states."""
    text = f"{report.findings}\n{report.impression}".lower()
    for cls, terms in _TERMS.items():
        if any(term in text for term in terms):
            return cls
    return "normal-rate"


def _agreement(session: Session) -> tuple[dict[str, Any], dict[str, Any]]:
    per_model: dict[str, Counter[str]] = defaultdict(Counter)
    per_center: dict[str, Counter[str]] = defaultdict(Counter)
    rows = session.execute(select(Report, Study, AIResult).join(Study, Report.study_id == Study.id)
                           .join(AIResult, AIResult.study_id == Study.id)
                           .where(Report.status == ReportStatus.SIGNED.value)).all()
    for report, study, ai in rows:
        model, cls = f"{ai.algorithm} {ai.algorithm_version}", ai_rate_class(ai)
        outcome = "not_comparable" if cls is None else (
            "agree" if cls == specialist_rate_class(report) else "disagree")
        per_model[model][outcome] += 1
        per_center[study.center_code][outcome] += 1
    return _rates(per_model), _rates(per_center)


def _rates(groups: dict[str, Counter[str]]) -> dict[str, Any]:
    out = {}
    for key, counts in sorted(groups.items()):
        compared = counts["agree"] + counts["disagree"]
        out[key] = {"compared": compared, "agree": counts["agree"], "disagree": counts["disagree"],
                    "not_comparable": counts["not_comparable"],
                    "agreement": round(counts["agree"] / compared, 4) if compared else None}
    return out


def _minutes(report: Report, study: Study) -> float:
    assert report.signed_at is not None
    signed, received = (v if v.tzinfo else v.replace(tzinfo=dt.UTC) for v in (report.signed_at, study.received_at))
    return max(0.0, (signed - received).total_seconds() / 60)


def _turnaround(session: Session) -> dict[str, Any]:
    per_center: dict[str, list[float]] = defaultdict(list)
    rows = session.execute(select(Report, Study).join(Study, Report.study_id == Study.id)
                           .where(Report.version == 1, Report.signed_at.is_not(None))).all()
    for report, study in rows:
        per_center[study.center_code].append(_minutes(report, study))
    out = {}
    for center, values in sorted(per_center.items()):
        values.sort()
        p90 = values[min(len(values) - 1, int(0.9 * len(values)))]
        out[center] = {"reports": len(values), "median_minutes": round(statistics.median(values), 2),
                       "p90_minutes": round(p90, 2)}
    return out


def _verdicts(session: Session) -> dict[str, Any]:
    per_center: dict[str, Counter[str]] = defaultdict(Counter)
    rows = session.execute(select(QcReview, Study).join(Report, QcReview.report_id == Report.id)
                           .join(Study, Report.study_id == Study.id)).all()
    for review, study in rows:
        per_center[study.center_code][review.verdict or "pending"] += 1
    return {center: dict(counts) for center, counts in sorted(per_center.items())}


def qc_stats(session: Session) -> dict[str, Any]:
    """Agreement per model and per center, QC verdicts per center, turnaround per center."""
    per_model, per_center = _agreement(session)
    return {"agreement_definition": AGREEMENT_DEFINITION, "agreement_per_model": per_model,
            "agreement_per_center": per_center, "qc_verdicts_per_center": _verdicts(session),
            "turnaround_per_center": _turnaround(session)}

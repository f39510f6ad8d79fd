"""QC peer review: sampling signed reports, reviews, and AI-vs-specialist and turnaround statistics."""

from sharedcenter.qc.service import Verdict, is_sampled, qc_queue, review_report, sample_report
from sharedcenter.qc.stats import ai_rate_class, qc_stats, specialist_rate_class

__all__ = [
    "Verdict",
    "ai_rate_class",
    "is_sampled",
    "qc_queue",
    "qc_stats",
    "review_report",
    "sample_report",
    "specialist_rate_class",
]

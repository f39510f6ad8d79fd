"""Sampling signed reports for peer review and recording the city QC reviewer's verdict.

Sampling is deterministic per report id: a version is sampled when the first 8 bytes of
``sha256("qc:<id>")``, read as a fraction of 2**64, fall under ``qc_sample_rate``.  The same database
and rate always give the same sample, so an audit can reproduce it; raising the rate keeps every
report sampled before.  A major discrepancy takes the version out of the recognition registry until an
amendment (a new signed version, registered afresh) replaces it.
"""

from __future__ import annotations

import enum
import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from sharedcenter.audit import record_event
from sharedcenter.auth import Principal
from sharedcenter.db.models import QcReview, Report, utcnow
from sharedcenter.enums import AuditAction, ReportStatus, Role
from sharedcenter.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from sharedcenter.recognition.service import suspend_report

__all__ = ["Verdict", "is_sampled", "qc_queue", "review_report", "sample_report"]

ACTOR = "system:qc"


class Verdict(enum.StrEnum):
    """The peer reviewer's judgement of a signed report."""

    AGREE = "agree"
    MINOR = "minor"
    MAJOR = "major"


def is_sampled(report_id: int, rate: float) -> bool:
    """Whether report ``report_id`` falls in a sample of share ``rate`` (deterministic)."""
    if not 0 <= rate <= 1:
        raise ValueError(f"rate must be between 0 and 1, got {rate}")
    digest = hashlib.sha256(f"qc:{report_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def sample_report(session: Session, report: Report, rate: float) -> QcReview | None:
    """Put a just-signed version into the QC queue when it falls in the sample; None otherwise."""
    if not is_sampled(report.id, rate):
        return None
    existing = session.scalar(select(QcReview).where(QcReview.report_id == report.id))
    if existing is not None:
        return existing
    row = QcReview(report_id=report.id)
    session.add(row)
    record_event(session, ACTOR, AuditAction.QC_SAMPLED, "report", report.id, study_id=report.study_id,
                 detail={"rate": rate})
    return row


def _require_qc(principal: Principal) -> None:
    if principal.role not in (Role.QC, Role.ADMIN):
        raise PermissionDenied(f"{principal.username} ({principal.role}) is not QC staff")


def qc_queue(session: Session, principal: Principal, limit: int = 100) -> list[QcReview]:
    """Sampled reports still waiting for a review, oldest first (QC staff and admins)."""
    _require_qc(principal)
    return list(session.scalars(select(QcReview).where(QcReview.verdict.is_(None))
                                .order_by(QcReview.sampled_at, QcReview.id).limit(min(limit, 500))))


def review_report(session: Session, principal: Principal, report_id: int, verdict: Verdict | str,
                  comment: str = "") -> QcReview:
    """Record the QC role's verdict on a sampled report; a major discrepancy suspends its recognition.

    Raises
    ------
    PermissionDenied
        The caller is not QC staff (a reviewer never reviews their own report).
    NotFound
        The report was not sampled for QC.
    Conflict
        It was reviewed already.
    InvalidInput
        An unknown verdict, or a discrepancy without a comment.
    """
    _require_qc(principal)
    try:
        verdict = Verdict(verdict)
    except ValueError:
        raise InvalidInput(f"verdict must be one of {', '.join(v.value for v in Verdict)}") from None
    if verdict is not Verdict.AGREE and not comment.strip():
        raise InvalidInput("comment must say what the discrepancy is")
    row = session.scalar(select(QcReview).where(QcReview.report_id == report_id).with_for_update())
    if row is None:
        raise NotFound(f"report {report_id} is not in the QC sample")
    if row.verdict is not None:
        raise Conflict(f"report {report_id} was reviewed already ({row.verdict})")
    if row.report.signed_by_id == principal.user_id:
        raise PermissionDenied("a reviewer may not review their own report")
    row.verdict, row.comment, row.reviewer_id, row.reviewed_at = verdict.value, comment, principal.user_id, utcnow()
    if verdict is Verdict.MAJOR and row.report.status == ReportStatus.SIGNED.value:
        suspend_report(session, report_id, f"QC major discrepancy: {comment[:200]}")
    record_event(session, principal.actor, AuditAction.QC_REVIEWED, "report", report_id,
                 study_id=row.report.study_id, detail={"verdict": verdict.value})
    session.flush()
    return row

"""QC peer review for the city QC role: the queue, verdicts, and the statistics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from sharedcenter.api.deps import CurrentUser, ServicesDep
from sharedcenter.api.schemas import QcReviewIn, QcReviewOut
from sharedcenter.db.models import QcReview
from sharedcenter.errors import PermissionDenied
from sharedcenter.qc import qc_queue, qc_stats, review_report

__all__ = ["router"]

router = APIRouter(prefix="/api/qc", tags=["qc"])


def _out(row: QcReview) -> QcReviewOut:
    report = row.report
    return QcReviewOut(report_id=report.id, study_id=report.study_id, center_code=report.study.center_code,
                       version=report.version, sampled_at=row.sampled_at, verdict=row.verdict, comment=row.comment,
                       reviewed_at=row.reviewed_at, pdf_url=f"/api/reports/{report.id}/pdf" if report.pdf_key else None)


@router.get("/queue")
def queue(principal: CurrentUser, services: ServicesDep) -> list[QcReviewOut]:
    """Sampled signed reports waiting for peer review, oldest first."""
    with services.db.session() as session:
        return [_out(r) for r in qc_queue(session, principal)]


@router.post("/reviews", status_code=201)
def review(body: QcReviewIn, principal: CurrentUser, services: ServicesDep) -> QcReviewOut:
    """Agree, minor or major discrepancy (with a comment); a major one suspends recognition."""
    with services.db.session() as session:
        return _out(review_report(session, principal, body.report_id, body.verdict, body.comment))


@router.get("/stats")
def stats(principal: CurrentUser, services: ServicesDep) -> dict[str, Any]:
    """AI-vs-specialist agreement per model and center, QC verdicts, turnaround (QC and admin)."""
    if not principal.sees_everything:
        raise PermissionDenied(f"{principal.username} may not see QC statistics")
    with services.db.session() as session:
        return qc_stats(session)

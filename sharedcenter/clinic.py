"""What a township clinic sees of its studies: state, ECG quality, AI preliminary, final report, retakes."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from sharedcenter.auth import Principal
from sharedcenter.db.models import AIResult, Report, Study
from sharedcenter.enums import ReportStatus
from sharedcenter.studies.query import list_site_studies

__all__ = ["site_overview"]

_QUALITY = "sharedcenter.ecg-quality"


def _quality(rows: list[AIResult]) -> dict[str, Any] | None:
    row = next((r for r in rows if r.algorithm == _QUALITY), None)
    return None if row is None else {"verdict": row.measurements.get("verdict"), "text": row.preliminary_text}


def _preliminary(rows: list[AIResult]) -> dict[str, Any] | None:
    reads = [r for r in rows if r.algorithm != _QUALITY]
    if not reads:
        return None
    row = reads[-1]
    return {"algorithm": row.algorithm, "version": row.algorithm_version, "automatic": True,
            "preliminary": True, "critical": row.critical, "text": row.preliminary_text}


def _report(reports: list[Report]) -> dict[str, Any] | None:
    signed = [r for r in reports if r.status == ReportStatus.SIGNED.value]
    if not signed:
        return None
    r = signed[-1]
    return {"id": r.id, "version": r.version, "findings": r.findings, "impression": r.impression,
            "signed_by": r.signed_by.display_name if r.signed_by else None,
            "signed_at": r.signed_at.isoformat() if r.signed_at else None,
            "pdf_url": f"/api/reports/{r.id}/pdf" if r.pdf_key else None}


def _row(study: Study) -> dict[str, Any]:
    return {"id": study.id, "kind": study.kind, "state": study.state, "modality": study.modality,
            "patient_id": study.patient_id, "patient_name": study.patient_name, "description": study.description,
            "received_at": study.received_at.isoformat(), "critical": study.critical,
            "returned_reason": study.returned_reason, "quality": _quality(study.ai_results),
            "preliminary": _preliminary(study.ai_results), "report": _report(study.reports)}


def site_overview(session: Session, principal: Principal, site_code: str, *, limit: int = 100) -> list[dict[str, Any]]:
    """The site's studies, newest first, each with what the clinic needs to act on.

    Raises
    ------
    PermissionDenied
        The caller is not the site's technician (or QC/admin).
    """
    return [_row(s) for s in list_site_studies(session, principal, site_code, limit=limit)]

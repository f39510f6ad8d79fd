"""Reports: a specialist signs; the signed version and its PDF never change afterwards."""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from sharedcenter.audit import record_event
from sharedcenter.auth import Principal
from sharedcenter.db.models import Center, Report, Site, Study, User, utcnow
from sharedcenter.enums import AuditAction, ReportStatus, StudyState
from sharedcenter.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from sharedcenter.reports.pdf import ReportDocument, render_report_pdf
from sharedcenter.services import Services
from sharedcenter.studies.query import get_visible_study
from sharedcenter.studies.state import transition

__all__ = ["get_report", "list_site_reports", "report_pdf", "sign_report"]

_MAX_TEXT = 20_000


def _check_text(findings: str, impression: str) -> None:
    if not impression.strip():
        raise InvalidInput("impression (诊断意见) must not be empty")
    for name, value in (("findings", findings), ("impression", impression)):
        if len(value) > _MAX_TEXT:
            raise InvalidInput(f"{name} is longer than {_MAX_TEXT} characters")


def _document(session: Session, services: Services, study: Study, report: Report, signer: User) -> ReportDocument:
    site = session.get(Site, study.site_code)
    center = session.get(Center, study.center_code)
    ai = study.ai_results[-1].preliminary_text if study.ai_results else ""
    assert report.signed_at is not None
    return ReportDocument(
        center_name=center.name if center else study.center_code,
        site_name=site.name if site else study.site_code,
        patient_id=study.patient_id, patient_name=study.patient_name,
        exam_label=f"{study.modality} {study.description}".strip(),
        study_uid_or_key=study.study_instance_uid or study.ecg_record_key or "",
        received_at=study.received_at, findings=report.findings, impression=report.impression,
        ai_summary=ai, signer_name=signer.display_name, signed_at=report.signed_at,
        report_id=report.id, version=report.version,
        verification_url=f"{services.settings.public_url}/api/reports/{report.id}",
    )


def sign_report(
    services: Services, session: Session, principal: Principal, study_id: int, *,
    findings: str, impression: str, amendment_reason: str | None = None,
) -> Report:
    """Sign a new report version for a study of the specialist's own center.

    A study already signed can only be amended: a new version naming ``amendment_reason``; the
    earlier version stays readable, marked superseded.

    Raises
    ------
    PermissionDenied
        The caller does not read this kind of study for this center.
    Conflict
        The study was returned to the site, or is signed and no amendment reason was given.
    InvalidInput
        Empty impression or over-long text.
    """
    study = get_visible_study(session, principal, study_id)
    principal.require_reader(study.center_code, study.kind)
    _check_text(findings, impression)
    previous = [r for r in study.reports if r.status == ReportStatus.SIGNED.value]
    if previous and not (amendment_reason or "").strip():
        raise Conflict(f"study {study_id} is signed already; an amendment must give its reason")
    if study.state == StudyState.RETURNED.value:
        raise Conflict(f"study {study_id} was returned to the site for a retake")
    signer = session.get(User, principal.user_id)
    assert signer is not None
    report = Report(
        study_id=study.id, version=len(study.reports) + 1, status=ReportStatus.DRAFT.value,
        findings=findings, impression=impression, amendment_reason=amendment_reason if previous else None,
        author_id=signer.id, signed_by_id=signer.id, signed_at=utcnow(),
    )
    session.add(report)
    session.flush()  # the id goes into the PDF; the version becomes signed, and frozen, with its PDF
    pdf = render_report_pdf(_document(session, services, study, report, signer))
    key = f"reports/{study.id}/v{report.version}-{report.id}.pdf"
    services.object_store.put(key, pdf, "application/pdf")
    report.pdf_key, report.pdf_sha256 = key, hashlib.sha256(pdf).hexdigest()
    report.status = ReportStatus.SIGNED.value
    for old in previous:
        old.status = ReportStatus.SUPERSEDED.value
    if study.state != StudyState.SIGNED.value:
        transition(session, study, StudyState.SIGNED, principal.actor)
    record_event(session, principal.actor, AuditAction.REPORT_SIGNED, "report", report.id, study_id=study.id,
                 detail={"version": report.version, "pdf_sha256": report.pdf_sha256,
                         "amendment_reason": report.amendment_reason})
    session.flush()
    return report


def get_report(session: Session, principal: Principal, report_id: int) -> Report:
    report = session.get(Report, report_id)
    if report is None:
        raise NotFound(f"no report {report_id}")
    get_visible_study(session, principal, report.study_id)  # raises NotFound when out of scope
    return report


def report_pdf(services: Services, session: Session, principal: Principal, report_id: int) -> bytes:
    """The stored PDF of a signed report version, checked against its recorded hash."""
    report = get_report(session, principal, report_id)
    if not report.pdf_key:
        raise NotFound(f"report {report_id} has no PDF")
    pdf = services.object_store.get(report.pdf_key)
    if hashlib.sha256(pdf).hexdigest() != report.pdf_sha256:
        raise Conflict(f"the stored PDF of report {report_id} does not match its recorded hash")
    return pdf


def list_site_reports(session: Session, principal: Principal, site_code: str) -> list[Report]:
    """A site's signed reports (current and superseded versions), newest first."""
    if session.get(Site, site_code) is None:
        raise NotFound(f"no site {site_code!r}")
    if not principal.can_view_site(site_code):
        raise PermissionDenied(f"{principal.username} may not see site {site_code!r}")
    return list(session.scalars(
        select(Report).join(Study).where(
            Study.site_code == site_code,
            Report.status.in_([ReportStatus.SIGNED.value, ReportStatus.SUPERSEDED.value]),
        ).order_by(Report.signed_at.desc(), Report.id.desc()).limit(500)
    ))

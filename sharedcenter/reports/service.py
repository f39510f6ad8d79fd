"""Report lifecycle: AI preliminary (an AIResult) -> draft -> signed final -> amended.

A draft can be edited and signed; a signed version never changes (the ORM guard and
:class:`~sharedcenter.errors.ReportLocked`); an amendment is a new version that names its reason and
marks the version it replaces superseded.  Signing renders the PDF, signs it (PAdES) with the
specialist's own key, stores it, and hands it on to the DICOM store and the recognition registry.
"""

from __future__ import annotations

import hashlib
import logging
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from sharedcenter.audit import record_event
from sharedcenter.auth import Principal
from sharedcenter.db.models import Center, Report, Site, Study, User, utcnow
from sharedcenter.enums import AuditAction, ReportStatus, StudyState
from sharedcenter.errors import Conflict, InvalidInput, NotFound, PermissionDenied, ReportLocked
from sharedcenter.recognition.rules import exam_code, load_rules
from sharedcenter.reports.content import build_document, content_sha256
from sharedcenter.reports.pdf import render_report_pdf
from sharedcenter.services import Services
from sharedcenter.signing import current_certificate, sign_pdf, signer_identity
from sharedcenter.studies.query import get_visible_study
from sharedcenter.studies.state import transition

__all__ = [
    "get_report",
    "list_site_reports",
    "report_pdf",
    "save_draft",
    "sign_draft",
    "sign_report",
    "update_draft",
]

logger = logging.getLogger(__name__)

_MAX_TEXT = 20_000


def _check_text(findings: str, impression: str) -> None:
    if not impression.strip():
        raise InvalidInput("impression (诊断意见) must not be empty")
    for name, value in (("findings", findings), ("impression", impression)):
        if len(value) > _MAX_TEXT:
            raise InvalidInput(f"{name} is longer than {_MAX_TEXT} characters")


def _readable_study(session: Session, principal: Principal, study_id: int) -> Study:
    study = get_visible_study(session, principal, study_id)
    principal.require_reader(study.center_code, study.kind)
    if study.state == StudyState.RETURNED.value:
        raise Conflict(f"study {study_id} was returned to the site for a retake")
    return study


def _signed_versions(study: Study) -> list[Report]:
    return [r for r in study.reports if r.status == ReportStatus.SIGNED.value]


def _open_draft(study: Study) -> Report | None:
    return next((r for r in study.reports if r.status == ReportStatus.DRAFT.value), None)


def save_draft(session: Session, principal: Principal, study_id: int, *, findings: str, impression: str,
               amendment_reason: str | None = None) -> Report:
    """Save the study's draft (created, or the open one updated); nothing is signed.

    Raises
    ------
    PermissionDenied
        The caller does not read this kind of study for this center.
    Conflict
        The study was returned to the site.
    InvalidInput
        Empty impression or over-long text.
    """
    study = _readable_study(session, principal, study_id)
    _check_text(findings, impression)
    draft = _open_draft(study)
    reason = amendment_reason if _signed_versions(study) else None
    if draft is None:
        draft = Report(study_id=study.id, version=len(study.reports) + 1, status=ReportStatus.DRAFT.value,
                       author_id=principal.user_id)
        session.add(draft)
    draft.findings, draft.impression, draft.amendment_reason = findings, impression, reason
    if study.state == StudyState.PREREAD.value:
        transition(session, study, StudyState.IN_REVIEW, principal.actor)
    session.flush()
    record_event(session, principal.actor, AuditAction.REPORT_DRAFTED, "report", draft.id, study_id=study.id,
                 detail={"version": draft.version})
    session.refresh(study)
    return draft


def update_draft(session: Session, principal: Principal, report_id: int, *, findings: str, impression: str,
                 amendment_reason: str | None = None) -> Report:
    """Edit a draft version by its id.

    Raises
    ------
    ReportLocked
        The version is signed (or superseded): it never changes; amend it instead.
    """
    report = get_report(session, principal, report_id)
    if report.status != ReportStatus.DRAFT.value:
        raise ReportLocked(f"report {report_id} (version {report.version}) is {report.status} and cannot change; "
                           "amend it with a new version")
    return save_draft(session, principal, report.study_id, findings=findings, impression=impression,
                      amendment_reason=amendment_reason)


def sign_report(
    services: Services, session: Session, principal: Principal, study_id: int, *,
    findings: str, impression: str, amendment_reason: str | None = None,
) -> Report:
    """Save the text as the study's draft and sign it at once (see :func:`sign_draft`).

    Raises
    ------
    PermissionDenied
        The caller does not read this kind of study for this center.
    Conflict
        The study was returned to the site, or is signed and no amendment reason was given.
    InvalidInput
        Empty impression or over-long text.
    """
    study = _readable_study(session, principal, study_id)
    if _signed_versions(study) and not (amendment_reason or "").strip():
        raise Conflict(f"study {study_id} is signed already; an amendment must give its reason")
    draft = save_draft(session, principal, study_id, findings=findings, impression=impression,
                       amendment_reason=amendment_reason)
    return sign_draft(services, session, principal, draft.id)


def sign_draft(services: Services, session: Session, principal: Principal, report_id: int) -> Report:
    """Sign a draft version: PDF, PAdES signature with the signer's key, store, supersede, register.

    Raises
    ------
    ReportLocked
        The version is signed already (signing twice).
    Conflict
        An amendment without its reason, or a returned study.
    PermissionDenied
        The caller does not read this study.
    """
    report = get_report(session, principal, report_id)
    if report.status != ReportStatus.DRAFT.value:
        raise ReportLocked(f"report {report_id} (version {report.version}) is {report.status} already")
    study = _readable_study(session, principal, report.study_id)
    previous = _signed_versions(study)
    if previous and not (report.amendment_reason or "").strip():
        raise Conflict(f"study {study.id} is signed already; an amendment must give its reason")
    signer = session.get(User, principal.user_id)
    assert signer is not None
    _finalise(services, session, study, report, signer)
    for old in previous:
        old.status = ReportStatus.SUPERSEDED.value
    if study.state != StudyState.SIGNED.value:
        transition(session, study, StudyState.SIGNED, principal.actor)
    record_event(session, principal.actor, AuditAction.REPORT_SIGNED, "report", report.id, study_id=study.id,
                 detail={"version": report.version, "pdf_sha256": report.pdf_sha256,
                         "content_sha256": report.content_sha256, "amendment_reason": report.amendment_reason,
                         "certificate": report.signing_certificate_id})
    session.flush()
    _after_signing(services, session, study, report, previous)
    return report


def _finalise(services: Services, session: Session, study: Study, report: Report, signer: User) -> None:
    """Everything that makes a draft the signed version, in one flush."""
    certificate = current_certificate(session, services.settings, signer)
    report.signed_by_id, report.signed_at = signer.id, utcnow().replace(microsecond=0)
    report.verification_id = secrets.token_urlsafe(16)
    report.signing_certificate_id = certificate.id
    rules = load_rules(services.settings.recognition_rules_file)
    if rules.recognizable(exam_code(study), study.center_code):
        report.recognition_mark = services.settings.recognition_mark
    pdf = render_report_pdf(build_document(session, services, study, report, signer, certificate))
    center = session.get(Center, study.center_code)
    signed = sign_pdf(pdf, signer_identity(services.settings, certificate), reason="远程诊断报告签署",
                      location=center.name if center else study.center_code, name=signer.display_name)
    key = f"reports/{study.id}/v{report.version}-{report.id}.pdf"
    services.object_store.put(key, signed, "application/pdf")
    report.pdf_key, report.pdf_sha256 = key, hashlib.sha256(signed).hexdigest()
    report.content_sha256 = content_sha256(study, report, signer)
    report.status = ReportStatus.SIGNED.value


def _after_signing(services: Services, session: Session, study: Study, report: Report,
                   previous: list[Report]) -> None:
    """Hand the signed version on: the recognition registry (superseded entries withdrawn), the QC
    sample, the DICOM store (now, or queued when it does not answer)."""
    from sharedcenter.qc import sample_report
    from sharedcenter.recognition.service import register_report, withdraw_reports
    from sharedcenter.reports.export import export_or_queue

    withdraw_reports(session, [r.id for r in previous], f"superseded by version {report.version}")
    register_report(services, session, study, report)
    sample_report(session, report, services.settings.qc_sample_rate)
    export_or_queue(services, session, report)
    _notify_final(services, session, study, report)


def _notify_final(services: Services, session: Session, study: Study, report: Report) -> None:
    """The clinic's webhook: the final (or amended) report is ready."""
    from sharedcenter.reports.content import verification_url
    from sharedcenter.webhooks import WebhookEvent, emit_event

    emit_event(services.queue, session, study.site_code, WebhookEvent.FINAL_READY, {
        "study_id": study.id, "patient_id": study.patient_id, "report_id": report.id, "version": report.version,
        "amendment_reason": report.amendment_reason, "pdf_sha256": report.pdf_sha256,
        "pdf_url": f"{services.settings.public_url.rstrip('/')}/api/reports/{report.id}/pdf",
        "verification_url": verification_url(services, report), "impression": report.impression})


def get_report(session: Session, principal: Principal, report_id: int) -> Report:
    """One report version the caller may see.

    Raises
    ------
    NotFound
        No such report, or its study is outside the caller's scope.
    """
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

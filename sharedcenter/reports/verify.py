"""Public verification of a signed report (``/verify/{id}``): signature and content hash, no login.

The page shows only what the holder of the report's QR code already has on paper, minus the
patient's identity: report number and version, exam, center, signer, signing time, status and the
two hashes.  A PDF uploaded for checking must be byte-identical to the signed one and carry a valid
signature from the region's trust roots.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from sharedcenter.db.models import Center, RecognitionEntry, Report, User, utcnow
from sharedcenter.enums import ReportStatus
from sharedcenter.errors import InvalidInput, NotFound
from sharedcenter.recognition.rules import exam_code
from sharedcenter.reports.content import content_sha256
from sharedcenter.services import Services
from sharedcenter.signing import SignatureCheck, trust_roots, verify_pdf

__all__ = ["Verification", "verify_report"]

_MAX_PDF = 20 * 1024 * 1024


@dataclasses.dataclass(frozen=True, slots=True)
class Verification:
    """What ``/verify/{id}`` shows."""

    authentic: bool
    verification_id: str
    report_id: int
    version: int
    status: str
    exam: str
    center_name: str
    signer_name: str
    signed_at: dt.datetime | None
    pdf_sha256: str
    content_sha256: str
    content_intact: bool
    signature: SignatureCheck
    recognized: bool
    recognition_mark: str | None
    uploaded_matches: bool | None
    problems: tuple[str, ...]


def _report(session: Session, verification_id: str) -> Report:
    report = session.scalar(select(Report).where(Report.verification_id == verification_id))
    if report is None or report.status == ReportStatus.DRAFT.value or not report.pdf_key:
        raise NotFound("no signed report with this verification code")
    return report


def _recognized(session: Session, report: Report) -> bool:
    entry = session.scalar(select(RecognitionEntry).where(RecognitionEntry.report_id == report.id))
    if entry is None or not entry.active:
        return False
    until = entry.valid_until if entry.valid_until.tzinfo else entry.valid_until.replace(tzinfo=dt.UTC)
    return until > utcnow()


def verify_report(
    services: Services, session: Session, verification_id: str, uploaded: bytes | None = None,
) -> Verification:
    """Check the stored signed PDF (and an uploaded copy, when given) of a report.

    Raises
    ------
    NotFound
        No signed report has this verification id.
    InvalidInput
        The uploaded file is empty or too large.
    """
    if uploaded is not None and not 0 < len(uploaded) <= _MAX_PDF:
        raise InvalidInput(f"the PDF must be 1 byte to {_MAX_PDF} bytes")
    report = _report(session, verification_id)
    stored = services.object_store.get(report.pdf_key or "")
    pdf = uploaded if uploaded is not None else stored
    check = verify_pdf(pdf, trust_roots(services.settings))
    signer = session.get(User, report.signed_by_id) if report.signed_by_id else None
    intact_content = signer is not None and content_sha256(report.study, report, signer) == report.content_sha256
    stored_ok = hashlib.sha256(stored).hexdigest() == report.pdf_sha256
    matches = None if uploaded is None else hashlib.sha256(uploaded).hexdigest() == report.pdf_sha256
    problems = _problems(check, intact_content, stored_ok, matches, report.status)
    center = session.get(Center, report.study.center_code)
    return Verification(
        authentic=not problems or problems == ("superseded",), verification_id=verification_id,
        report_id=report.id, version=report.version, status=report.status, exam=exam_code(report.study),
        center_name=center.name if center else report.study.center_code,
        signer_name=signer.display_name if signer else "", signed_at=report.signed_at,
        pdf_sha256=report.pdf_sha256 or "", content_sha256=report.content_sha256 or "",
        content_intact=intact_content, signature=check, recognized=_recognized(session, report),
        recognition_mark=report.recognition_mark, uploaded_matches=matches, problems=problems,
    )


def _problems(check: SignatureCheck, content_ok: bool, stored_ok: bool, matches: bool | None,
              status: str) -> tuple[str, ...]:
    out = []
    if not check.ok:
        out.append(f"signature: {check.problem or 'not valid'}")
    if not content_ok:
        out.append("content hash does not match the signed content")
    if not stored_ok:
        out.append("the stored PDF does not match its recorded hash")
    if matches is False:
        out.append("the uploaded PDF is not the signed report (its bytes differ)")
    if status == ReportStatus.SUPERSEDED.value:
        out.append("superseded")
    return tuple(out)

"""What a signed report states, as the PDF shows it and as its content hash covers it."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from cryptography import x509
from sqlalchemy.orm import Session

from sharedcenter.db.models import Center, Report, SigningCertificate, Site, Study, User
from sharedcenter.recognition.rules import exam_code
from sharedcenter.reports.figures import study_figure
from sharedcenter.reports.pdf import ReportDocument
from sharedcenter.services import Services

__all__ = ["build_document", "content_sha256", "signed_content", "verification_url"]


def verification_url(services: Services, report: Report) -> str:
    """The public verification URL the QR code carries."""
    return f"{services.settings.public_url.rstrip('/')}/verify/{report.verification_id}"


def signed_content(study: Study, report: Report, signer: User) -> dict[str, Any]:
    """The statements the content hash covers (canonical, independent of the PDF layout)."""
    assert report.signed_at is not None
    at = report.signed_at
    if at.tzinfo is not None:
        at = at.astimezone(dt.UTC).replace(tzinfo=None)  # naive values are UTC (the database stores UTC)
    signed_at = at.replace(microsecond=0).isoformat()
    return {
        "report_id": report.id, "version": report.version, "verification_id": report.verification_id,
        "study": study.study_instance_uid or study.ecg_record_key or "", "exam": exam_code(study),
        "patient_id": study.patient_id, "center": study.center_code, "site": study.site_code,
        "findings": report.findings, "impression": report.impression,
        "amendment_reason": report.amendment_reason, "signer": signer.username, "signed_at": signed_at,
    }


def content_sha256(study: Study, report: Report, signer: User) -> str:
    """SHA-256 of :func:`signed_content` as canonical JSON (sorted keys, UTF-8)."""
    canonical = json.dumps(signed_content(study, report, signer), sort_keys=True, ensure_ascii=False,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _certificate_label(row: SigningCertificate | None) -> str:
    if row is None:
        return ""
    cert = x509.load_pem_x509_certificate(row.cert_pem.encode())
    names = cert.issuer.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
    issuer = str(names[0].value) if names else row.issuer
    return f"序列号 {row.serial}，签发机构 {issuer}"


def build_document(session: Session, services: Services, study: Study, report: Report, signer: User,
                   certificate: SigningCertificate | None) -> ReportDocument:
    """The PDF's content for a report version about to be signed."""
    site = session.get(Site, study.site_code)
    center = session.get(Center, study.center_code)
    assert report.signed_at is not None
    return ReportDocument(
        center_name=center.name if center else study.center_code,
        site_name=site.name if site else study.site_code,
        patient_id=study.patient_id, patient_name=study.patient_name,
        exam_label=f"{study.modality} {study.description}".strip(),
        study_uid_or_key=study.study_instance_uid or study.ecg_record_key or "",
        received_at=study.received_at, findings=report.findings, impression=report.impression,
        ai_summary=study.ai_results[-1].preliminary_text if study.ai_results else "",
        signer_name=signer.display_name, signed_at=report.signed_at, report_id=report.id,
        version=report.version, verification_url=verification_url(services, report),
        recognition_mark=report.recognition_mark, figure_png=study_figure(services, study),
        figure_caption="心电图节律条（II 导联，25 mm/s，10 mm/mV）" if study.ecg_record_key else "关键图像",
        amendment_reason=report.amendment_reason, certificate_label=_certificate_label(certificate),
    )

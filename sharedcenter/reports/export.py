"""Writing signed report versions into the DICOM store, at signing or later by a retry task.

The signature comes first: a version is signed and committed whatever the DICOM store says.  At
signing the objects are stored at once, in the same transaction, when the store answers; when it does
not (:class:`~sharedcenter.errors.StorageError`), the export is queued after commit as a ``cpu`` task
that retries with back-off, and the version's SOP instance UID columns stay empty until it succeeds.
Exporting twice is harmless: the objects' UIDs derive from the version, so the store sees the same
instances again.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from sharedcenter.audit import record_event
from sharedcenter.db.models import Center, Report, Study, User
from sharedcenter.enums import AuditAction, ReportStatus
from sharedcenter.errors import NotFound, StorageError
from sharedcenter.queue import call_after_commit
from sharedcenter.reports.dicom import build_report_objects
from sharedcenter.services import Services

__all__ = ["export_or_queue", "export_report"]

logger = logging.getLogger(__name__)
ACTOR = "system:dicom-export"


def export_report(services: Services, session: Session, report_id: int) -> bool:
    """Store the Encapsulated PDF and SR of a signed version; False when it was exported already.

    Raises
    ------
    NotFound
        No such report, or it is not a signed (or superseded) version.
    StorageError
        The DICOM or object store failed (:class:`StorageUnavailable` when it is only unreachable).
    """
    report = session.get(Report, report_id)
    if report is None or report.status == ReportStatus.DRAFT.value or not report.pdf_key:
        raise NotFound(f"no signed report {report_id} to export")
    if report.pdf_sop_instance_uid and report.sr_sop_instance_uid:
        return False
    study = session.get(Study, report.study_id)
    signer = session.get(User, report.signed_by_id) if report.signed_by_id else None
    assert study is not None and signer is not None
    center = session.get(Center, study.center_code)
    objects = build_report_objects(services, study, report, signer, center.name if center else study.center_code,
                                   services.object_store.get(report.pdf_key))
    services.dicom_store.store(objects.pdf, objects.pdf_uids)
    services.dicom_store.store(objects.sr, objects.sr_uids)
    report.pdf_sop_instance_uid, report.sr_sop_instance_uid = objects.pdf_uids[2], objects.sr_uids[2]
    record_event(session, ACTOR, AuditAction.REPORT_EXPORTED, "report", report.id, study_id=study.id,
                 detail={"study_instance_uid": objects.study_instance_uid, "pdf": objects.pdf_uids[2],
                         "sr": objects.sr_uids[2]})
    session.flush()
    return True


def export_or_queue(services: Services, session: Session, report: Report) -> None:
    """Export a just-signed version now; when the store fails, queue the export after commit."""
    try:
        export_report(services, session, report.id)  # the stores run before any column changes
    except StorageError as exc:
        logger.warning("DICOM export of report %s deferred to the worker: %s", report.id, exc)
        record_event(session, ACTOR, AuditAction.REPORT_EXPORT_QUEUED, "report", report.id,
                     study_id=report.study_id, detail={"error": str(exc)[:500]})
        report_id = report.id
        call_after_commit(session, f"export:{report_id}",
                          lambda: services.queue.send_report_export(report_id))

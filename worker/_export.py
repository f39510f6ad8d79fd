"""The DICOM export service the retry task calls: load the report by id, export it, commit."""

from __future__ import annotations

import logging

from sharedcenter.reports.export import export_report
from sharedcenter.services import Services

__all__ = ["run_export"]

logger = logging.getLogger(__name__)


def run_export(services: Services, report_id: int) -> str:
    """Write a signed report version into the DICOM store; "exported" or "already" (idempotent).

    Raises
    ------
    NotFound
        No signed report ``report_id``.
    StorageError
        The store failed; the task retries :class:`StorageUnavailable` with back-off.
    """
    with services.db.session() as session:
        done = export_report(services, session, report_id)
    logger.info("report %s %s in the DICOM store", report_id, "exported" if done else "already")
    return "exported" if done else "already"

"""Reports: drafts, signing (PAdES), versions, PDF rendering."""

from sharedcenter.reports.pdf import ReportDocument, render_report_pdf
from sharedcenter.reports.service import (
    get_report,
    list_site_reports,
    report_pdf,
    save_draft,
    sign_draft,
    sign_report,
    update_draft,
)

__all__ = [
    "ReportDocument",
    "get_report",
    "list_site_reports",
    "render_report_pdf",
    "report_pdf",
    "save_draft",
    "sign_draft",
    "sign_report",
    "update_draft",
]

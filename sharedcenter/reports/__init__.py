"""Reports: signing, versions, PDF rendering."""

from sharedcenter.reports.pdf import ReportDocument, render_report_pdf
from sharedcenter.reports.service import get_report, list_site_reports, report_pdf, sign_report

__all__ = ["ReportDocument", "get_report", "list_site_reports", "render_report_pdf", "report_pdf", "sign_report"]

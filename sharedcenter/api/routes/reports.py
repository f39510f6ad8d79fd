"""Reports for the clinic: the site's list, one report, its PDF."""

from __future__ import annotations

from fastapi import APIRouter, Response

from sharedcenter.api.deps import CurrentUser, ServicesDep
from sharedcenter.api.schemas import ReportOut, report_out
from sharedcenter.reports import get_report, list_site_reports, report_pdf

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["reports"])


@router.get("/sites/{site}/reports")
def site_reports(site: str, principal: CurrentUser, services: ServicesDep) -> list[ReportOut]:
    with services.db.session() as session:
        return [report_out(r) for r in list_site_reports(session, principal, site)]


@router.get("/reports/{report_id}")
def one_report(report_id: int, principal: CurrentUser, services: ServicesDep) -> ReportOut:
    with services.db.session() as session:
        return report_out(get_report(session, principal, report_id))


@router.get("/reports/{report_id}/pdf")
def one_report_pdf(report_id: int, principal: CurrentUser, services: ServicesDep) -> Response:
    with services.db.session() as session:
        pdf = report_pdf(services, session, principal, report_id)
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="report-{report_id}.pdf"'})

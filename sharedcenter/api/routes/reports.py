"""Reports: the clinic's list, one report, its PDF; drafts, signing a draft, the signature check."""

from __future__ import annotations

from fastapi import APIRouter, Response

from sharedcenter.api.deps import CurrentUser, ServicesDep
from sharedcenter.api.schemas import DraftIn, ReportOut, report_out
from sharedcenter.reports import get_report, list_site_reports, report_pdf, save_draft, sign_draft, update_draft

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


@router.post("/studies/{study_id}/draft", status_code=201)
def draft_report(study_id: int, body: DraftIn, principal: CurrentUser, services: ServicesDep) -> ReportOut:
    """Save the study's draft (the open one is updated); nothing is signed."""
    with services.db.session() as session:
        return report_out(save_draft(session, principal, study_id, findings=body.findings,
                                     impression=body.impression, amendment_reason=body.amendment_reason))


@router.put("/reports/{report_id}")
def edit_draft(report_id: int, body: DraftIn, principal: CurrentUser, services: ServicesDep) -> ReportOut:
    """Edit a draft; a signed version is refused (409): amend it instead."""
    with services.db.session() as session:
        return report_out(update_draft(session, principal, report_id, findings=body.findings,
                                       impression=body.impression, amendment_reason=body.amendment_reason))


@router.post("/reports/{report_id}/sign")
def sign_one_draft(report_id: int, principal: CurrentUser, services: ServicesDep) -> ReportOut:
    """Sign a draft with the caller's own key (PAdES); signing a signed version is refused (409)."""
    with services.db.session() as session:
        return report_out(sign_draft(services, session, principal, report_id))

"""Uploads, studies, the worklist, and signing."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from sharedcenter.api.deps import CurrentUser, ServicesDep
from sharedcenter.api.schemas import ReportIn, ReportOut, StudyOut, report_out, study_out
from sharedcenter.auth import Principal
from sharedcenter.db.models import AuditEvent
from sharedcenter.enums import StudyState
from sharedcenter.errors import InvalidInput, UploadTooLarge
from sharedcenter.reports import sign_report
from sharedcenter.services import Services
from sharedcenter.studies import UploadedFile, get_visible_study, ingest_upload, list_site_studies, worklist

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["studies"])


def _upload_site(principal: Principal, site: str | None) -> str:
    site_code = site or principal.site_code
    if not site_code:
        raise InvalidInput("say which site the upload is for (form field 'site')")
    principal.require_site(site_code)
    return site_code


def _ingest(services: Services, principal: Principal, site_code: str, files: list[UploadedFile],
            complete: bool) -> tuple[list[dict[str, Any]], bool]:
    with services.db.session() as session:
        outcomes = ingest_upload(services, session, site_code, files, complete=complete, actor=principal.actor)
        body = [
            {**study_out(o.study).model_dump(mode="json"), "created": o.created, "duplicate": o.duplicate,
             "new_files": o.new_files, **({"quality": o.quality} if o.quality is not None else {})}
            for o in outcomes
        ]
    return body, any(o.created for o in outcomes)


@router.post("/uploads")
async def upload(
    principal: CurrentUser,
    services: ServicesDep,
    response: Response,
    files: Annotated[list[UploadFile], File(description="DICOM files and/or ECG records")],
    site: Annotated[str | None, Form()] = None,
    complete: Annotated[bool, Form(description="the sender declares the study complete")] = True,
) -> dict[str, Any]:
    """Upload DICOM files or ECG records (WFDB pairs, DICOM waveforms); 201 when new, 200 for a re-send."""
    site_code = _upload_site(principal, site)
    limit, total, items = services.settings.max_upload_bytes, 0, []
    for f in files:
        data = await f.read()
        total += len(data)
        if total > limit:
            raise UploadTooLarge(f"upload is larger than the limit of {limit} bytes")
        items.append(UploadedFile((f.filename or "upload").rsplit("/", 1)[-1], data))
    body, created = await run_in_threadpool(_ingest, services, principal, site_code, items, complete)
    response.status_code = 201 if created else 200
    return {"studies": body}


@router.get("/studies")
def site_studies(principal: CurrentUser, services: ServicesDep, site: str | None = None,
                 limit: int = Query(100, ge=1, le=500), offset: int = Query(0, ge=0)) -> list[StudyOut]:
    site_code = site or principal.site_code
    if not site_code:
        raise InvalidInput("query parameter 'site' is required")
    with services.db.session() as session:
        return [study_out(s) for s in list_site_studies(session, principal, site_code, limit=limit, offset=offset)]


@router.get("/studies/{study_id}")
def get_study(study_id: int, principal: CurrentUser, services: ServicesDep) -> StudyOut:
    with services.db.session() as session:
        return study_out(get_visible_study(session, principal, study_id), detail=True)


@router.get("/studies/{study_id}/audit")
def study_audit(study_id: int, principal: CurrentUser, services: ServicesDep) -> list[dict[str, Any]]:
    with services.db.session() as session:
        get_visible_study(session, principal, study_id)
        events = session.query(AuditEvent).filter(AuditEvent.study_id == study_id).order_by(AuditEvent.id)
        return [{"at": e.at.isoformat(), "actor": e.actor, "action": e.action, "detail": e.detail,
                 "correlation_id": e.correlation_id} for e in events]


@router.get("/worklist")
def get_worklist(
    principal: CurrentUser, services: ServicesDep, site: str | None = None, modality: str | None = None,
    state: Annotated[list[StudyState] | None, Query()] = None,
    limit: int = Query(100, ge=1, le=500), offset: int = Query(0, ge=0),
) -> list[StudyOut]:
    """The caller's center's open studies: critical first, then priority, then due time."""
    with services.db.session() as session:
        rows = worklist(session, principal, site_code=site, modality=modality, states=state, limit=limit,
                        offset=offset)
        return [study_out(s) for s in rows]


@router.post("/studies/{study_id}/report", status_code=201)
def sign(study_id: int, body: ReportIn, principal: CurrentUser, services: ServicesDep) -> ReportOut:
    """Sign a report for the study (a new version; an amendment must give its reason)."""
    with services.db.session() as session:
        report = sign_report(services, session, principal, study_id, findings=body.findings,
                             impression=body.impression, amendment_reason=body.amendment_reason)
        return report_out(report)

"""The reading station's API: worklist (polled with ETag), claims, report actions, consultations.

Drafts and signatures through this module take (or renew) the caller's claim first; a study
claimed by someone else answers 409 here and on the plain report routes alike (the database
layer refuses it).  Signing asks for the password again and checks it before anything is signed.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from sharedcenter.api.deps import CurrentUser, ServicesDep
from sharedcenter.api.schemas import ReportOut, report_out, study_out
from sharedcenter.auth import Principal, authenticate_password
from sharedcenter.claims import claim_of, claim_study, release_study
from sharedcenter.consultations import (
    answer_consultation,
    escalate_study,
    list_consultations,
    return_for_retake,
    study_for_station,
)
from sharedcenter.db.models import Consultation, Study
from sharedcenter.enums import StudyState
from sharedcenter.errors import AuthenticationFailed
from sharedcenter.reports import save_draft, sign_report
from sharedcenter.station import WorklistFilter, report_form, station_worklist, worklist_etag

__all__ = ["router"]

router = APIRouter(prefix="/api/station", tags=["station"])


class ReportBody(BaseModel):
    findings: str = Field(default="", max_length=20_000)
    impression: str = Field(min_length=1, max_length=20_000)
    amendment_reason: str | None = Field(default=None, max_length=2_000)


class SignBody(ReportBody):
    password: str = Field(min_length=1, max_length=256, description="the signer's password, asked again")


class TextBody(BaseModel):
    text: str = Field(min_length=1, max_length=4_000)


@router.get("/worklist")
def worklist(
    request: Request, response: Response, principal: CurrentUser, services: ServicesDep,
    site: str | None = None, modality: str | None = None,
    state: Annotated[list[StudyState] | None, Query()] = None, day: dt.date | None = None,
    limit: int = Query(100, ge=1, le=500), offset: int = Query(0, ge=0),
) -> Any:
    """The center's open studies with claims and countdowns; 304 when unchanged (``If-None-Match``)."""
    wanted = WorklistFilter(site, modality, tuple(state or ()), day, limit, offset)
    with services.db.session() as session:
        rows = station_worklist(session, services.settings, principal, wanted)
    etag = worklist_etag(rows)
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": "no-cache"})
    response.headers["ETag"], response.headers["Cache-Control"] = etag, "no-cache"
    return {"studies": rows, "now": dt.datetime.now(dt.UTC).isoformat()}


def _consultation_out(c: Consultation) -> dict[str, Any]:
    return {"id": c.id, "study_id": c.study_id, "question": c.question, "asked_by": c.asked_by.display_name,
            "asked_at": c.asked_at.isoformat(), "answer": c.answer,
            "answered_by": c.answered_by.display_name if c.answered_by else None,
            "answered_at": c.answered_at.isoformat() if c.answered_at else None,
            "study": {"id": c.study.id, "kind": c.study.kind, "modality": c.study.modality,
                      "patient_id": c.study.patient_id, "site_code": c.study.site_code}}


def _study_view(session: Session, study: Study) -> dict[str, Any]:
    claim = claim_of(session, study)
    consultations = session.query(Consultation).filter(Consultation.study_id == study.id).order_by(Consultation.id)
    return {"study": study_out(study, detail=True).model_dump(mode="json"),
            "claim": claim.to_json() if claim else None, "returned_reason": study.returned_reason,
            "form": report_form(study), "consultations": [_consultation_out(c) for c in consultations]}


@router.get("/studies/{study_id}")
def study_view(study_id: int, principal: CurrentUser, services: ServicesDep) -> dict[str, Any]:
    """Everything the reading page shows beside the images: study, AI, claim, report form."""
    with services.db.session() as session:
        return _study_view(session, study_for_station(session, principal, study_id))


def _reader_study(session: Session, principal: Principal, study_id: int) -> Study:
    study = study_for_station(session, principal, study_id)
    principal.require_reader(study.center_code, study.kind)
    return study


@router.post("/studies/{study_id}/claim")
def claim(study_id: int, principal: CurrentUser, services: ServicesDep) -> dict[str, Any]:
    """Claim (or renew) the reading lease; 409 while someone else holds it."""
    with services.db.session() as session:
        return claim_study(session, principal, _reader_study(session, principal, study_id)).to_json()


@router.delete("/studies/{study_id}/claim")
def release(study_id: int, principal: CurrentUser, services: ServicesDep) -> dict[str, bool]:
    """Give the lease back (closing the study); releasing someone else's lease does nothing."""
    with services.db.session() as session:
        return {"released": release_study(session, principal, study_for_station(session, principal, study_id))}


@router.post("/studies/{study_id}/draft", status_code=201)
def draft(study_id: int, body: ReportBody, principal: CurrentUser, services: ServicesDep) -> ReportOut:
    """Save the draft under the caller's claim."""
    with services.db.session() as session:
        claim_study(session, principal, _reader_study(session, principal, study_id))
        return report_out(save_draft(session, principal, study_id, findings=body.findings,
                                     impression=body.impression, amendment_reason=body.amendment_reason))


def _reauthenticate(session: Session, principal: Principal, password: str) -> None:
    again = authenticate_password(session, principal.username, password)
    if again.user_id != principal.user_id:
        raise AuthenticationFailed("the password does not belong to the signed-in user")


@router.post("/studies/{study_id}/sign", status_code=201)
def sign(study_id: int, body: SignBody, principal: CurrentUser, services: ServicesDep) -> ReportOut:
    """Sign after checking the password again; needs (and then gives back) the claim."""
    with services.db.session() as session:
        _reauthenticate(session, principal, body.password)
    with services.db.session() as session:
        study = _reader_study(session, principal, study_id)
        claim_study(session, principal, study)
        report = sign_report(services, session, principal, study_id, findings=body.findings,
                             impression=body.impression, amendment_reason=body.amendment_reason)
        release_study(session, principal, study)
        return report_out(report)


@router.post("/studies/{study_id}/return")
def return_study(study_id: int, body: TextBody, principal: CurrentUser, services: ServicesDep) -> dict[str, Any]:
    """Send the study back to the clinic for a retake, with the reason they will see."""
    with services.db.session() as session:
        study = return_for_retake(session, principal, study_id, body.text)
        return {"id": study.id, "state": study.state, "returned_reason": study.returned_reason}


@router.post("/studies/{study_id}/escalate", status_code=201)
def escalate(study_id: int, body: TextBody, principal: CurrentUser, services: ServicesDep) -> dict[str, Any]:
    """Ask the city center (a consultation its experts answer in the station)."""
    with services.db.session() as session:
        return _consultation_out(escalate_study(session, principal, study_id, body.text))


@router.get("/consultations")
def consultations(principal: CurrentUser, services: ServicesDep, open_only: bool = True) -> list[dict[str, Any]]:
    """City experts: questions to their center; county readers: their own questions."""
    with services.db.session() as session:
        return [_consultation_out(c) for c in list_consultations(session, principal, open_only=open_only)]


@router.post("/consultations/{consultation_id}/answer")
def answer(consultation_id: int, body: TextBody, principal: CurrentUser, services: ServicesDep) -> dict[str, Any]:
    """A city expert's answer; the study returns to the county reader, in review."""
    with services.db.session() as session:
        return _consultation_out(answer_consultation(session, principal, consultation_id, body.text))

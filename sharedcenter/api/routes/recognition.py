"""The recognition registry for member hospitals (institution tokens) and its report for QC staff."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from sharedcenter.api.deps import CurrentUser, ServicesDep
from sharedcenter.api.schemas import DecisionIn, RecognizedOut
from sharedcenter.db.models import Institution
from sharedcenter.errors import AuthenticationFailed, PermissionDenied
from sharedcenter.recognition import authenticate_institution, decision_report, find_recognized, record_decision

__all__ = ["router"]

router = APIRouter(prefix="/api/recognition", tags=["recognition"])


def current_institution(request: Request, services: ServicesDep) -> Institution:
    """The member hospital whose ``Authorization: Bearer sci_...`` token came with the request."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed("send the institution token: 'Authorization: Bearer sci_...'")
    with services.db.session() as session:
        return authenticate_institution(session, token.strip())


InstitutionDep = Annotated[Institution, Depends(current_institution)]


@router.get("")
def recognized_results(institution: InstitutionDep, services: ServicesDep,
                       patient: Annotated[str, Query(min_length=1, max_length=64)],
                       exam: Annotated[str | None, Query(max_length=16)] = None) -> list[RecognizedOut]:
    """The patient's valid recognized results (of one exam type when given), with verification links."""
    with services.db.session() as session:
        return [RecognizedOut(**dataclasses.asdict(r)) for r in find_recognized(services, session, patient, exam)]


@router.post("/decisions", status_code=201)
def decide(body: DecisionIn, institution: InstitutionDep, services: ServicesDep) -> dict[str, Any]:
    """Record that the hospital accepted a result, or repeated the exam and why."""
    with services.db.session() as session:
        row = record_decision(services, session, institution, body.entry_id, body.decision, body.reason,
                              body.comment)
        return {"id": row.id, "entry_id": row.entry_id, "decision": row.decision, "reason": row.reason}


@router.get("/decisions/report")
def decisions_report(principal: CurrentUser, services: ServicesDep) -> dict[str, Any]:
    """Accepted and repeated counts, repeats by reason, per institution (QC and admin)."""
    if not principal.sees_everything:
        raise PermissionDenied(f"{principal.username} may not see the recognition report")
    with services.db.session() as session:
        return decision_report(session)

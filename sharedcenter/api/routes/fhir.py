"""FHIR R4 read access: ``GET /fhir/DiagnosticReport`` for staff users and member hospitals."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from sharedcenter.api.deps import ServicesDep
from sharedcenter.auth import authenticate_token
from sharedcenter.errors import AuthenticationFailed
from sharedcenter.fhir import FhirQuery, Reader, search_diagnostic_reports
from sharedcenter.fhir.service import parse_category, parse_dates
from sharedcenter.recognition import authenticate_institution
from sharedcenter.services import Services

__all__ = ["router"]

router = APIRouter(prefix="/fhir", tags=["fhir"])
_INSTITUTION_PREFIX = "sci_"


def _reader(request: Request, services: Services) -> Reader:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationFailed("send 'Authorization: Bearer <user or institution token>'")
    with services.db.session() as session:
        if token.startswith(_INSTITUTION_PREFIX):
            return Reader(institution_code=authenticate_institution(session, token).code)
        return Reader(principal=authenticate_token(session, token))


@router.get("/DiagnosticReport")
def search_reports(
    request: Request, services: ServicesDep,
    patient: Annotated[str | None, Query(max_length=64)] = None,
    date: Annotated[list[str] | None, Query(max_length=40)] = None,
    category: Annotated[str | None, Query(max_length=100)] = None,
    count: Annotated[int, Query(alias="_count")] = 50,
) -> JSONResponse:
    """Signed reports as an R4 searchset Bundle (``patient``, ``date`` with ge/le, ``category``, ``_count``)."""
    reader = _reader(request, services)
    low, high = parse_dates(date or [])
    query = FhirQuery(patient=patient, date_ge=low, date_le=high, kind=parse_category(category), count=count)
    with services.db.session() as session:
        bundle = search_diagnostic_reports(services, session, reader, query, str(request.url))
    return JSONResponse(bundle, media_type="application/fhir+json")

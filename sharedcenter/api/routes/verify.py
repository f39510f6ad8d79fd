"""The public verification page of a signed report (the URL in its QR code); no login."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from sharedcenter.api.deps import ServicesDep
from sharedcenter.reports.verify import Verification, verify_report

__all__ = ["router"]

router = APIRouter(tags=["verify"])
_env = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parents[2] / "web" / "templates"),
    autoescape=select_autoescape(["html"]),
)


def _json(result: Verification) -> dict[str, Any]:
    out = dataclasses.asdict(result)
    out["signature"]["ok"] = result.signature.ok
    return out


def _page(result: Verification) -> str:
    return _env.get_template("verify.html").render(v=result)


@router.get("/verify/{verification_id}", response_model=None)
def verify_page(verification_id: str, request: Request, services: ServicesDep) -> HTMLResponse | dict[str, Any]:
    """Confirm the signature and content hash of the report; JSON when asked with ``Accept: application/json``."""
    with services.db.session() as session:
        result = verify_report(services, session, verification_id)
    if "application/json" in request.headers.get("accept", ""):
        return _json(result)
    return HTMLResponse(_page(result))


@router.post("/verify/{verification_id}")
def verify_upload(verification_id: str, pdf: Annotated[bytes, File()], services: ServicesDep) -> dict[str, Any]:
    """Check a copy of the PDF the holder has: the same bytes as signed, and a valid signature."""
    with services.db.session() as session:
        return _json(verify_report(services, session, verification_id, pdf))

"""``POST /api/ecg``: one ECG recording in any supported format, its quality verdict at once."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from sharedcenter.api.deps import CurrentUser, ServicesDep
from sharedcenter.api.schemas import study_out
from sharedcenter.auth import Principal
from sharedcenter.errors import InvalidInput, UploadTooLarge
from sharedcenter.services import Services
from sharedcenter.studies import ingest_ecg

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["ecg"])


def _ingest_one(services: Services, principal: Principal, site_code: str, files: dict[str, bytes]) -> dict[str, Any]:
    with services.db.session() as session:
        outcome = ingest_ecg(services, session, site_code, files, actor=principal.actor)
        return {**study_out(outcome.study).model_dump(mode="json"), "created": outcome.created,
                "duplicate": outcome.duplicate, "new_files": outcome.new_files, "quality": outcome.quality}  # fmt: skip


@router.post("/ecg")
async def upload_ecg(
    principal: CurrentUser,
    services: ServicesDep,
    response: Response,
    files: Annotated[list[UploadFile], File(description="one ECG record: WFDB .hea + signal, DICOM, aECG, SCP, zip")],
    site: Annotated[str | None, Form()] = None,
) -> dict[str, Any]:
    """Upload one ECG recording (format from content); 201 with the quality verdict, 200 for a re-send."""
    site_code = site or principal.site_code
    if not site_code:
        raise InvalidInput("say which site the recording is for (form field 'site')")
    principal.require_site(site_code)
    limit, total, items = services.settings.max_upload_bytes, 0, {}
    for f in files:
        data = await f.read()
        total += len(data)
        if total > limit:
            raise UploadTooLarge(f"upload is larger than the limit of {limit} bytes")
        name = (f.filename or "upload").rsplit("/", 1)[-1]
        if name in items:
            raise InvalidInput(f"the upload names the file {name!r} twice")
        items[name] = data
    body = await run_in_threadpool(_ingest_one, services, principal, site_code, items)
    response.status_code = 201 if body["created"] else 200
    return body

"""The viewers' data: rendered DICOM frames (window/level, presets), AI overlays, priors, ECG waveforms."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from sharedcenter.api.deps import CurrentUser, ServicesDep
from sharedcenter.api.schemas import ai_out
from sharedcenter.consultations import study_for_station
from sharedcenter.imaging import FrameCache, Window
from sharedcenter.station import load_record, waveform_json
from sharedcenter.station.images import frame_png, list_images, list_priors, overlay_png

__all__ = ["router"]

router = APIRouter(prefix="/api/station", tags=["viewer"])

_PNG_HEADERS = {"Cache-Control": "private, max-age=300"}


def _cache(request: Request) -> FrameCache:
    cache: FrameCache | None = getattr(request.app.state, "frame_cache", None)
    if cache is None:
        cache = request.app.state.frame_cache = FrameCache()
    return cache


@router.get("/studies/{study_id}/images")
def images(study_id: int, request: Request, principal: CurrentUser, services: ServicesDep) -> dict[str, Any]:
    """The study's images (size, pixel spacing, default window), AI overlays and chest presets."""
    with services.db.session() as session:
        study = study_for_station(session, principal, study_id)
        return list_images(services, _cache(request), study)


@router.get("/studies/{study_id}/images/{index}/frames/{frame}.png")
async def frame(
    study_id: int, index: int, frame: int, request: Request, principal: CurrentUser, services: ServicesDep,
    center: float | None = None, width: float | None = Query(None, gt=0), preset: str | None = None,
    invert: bool = False, size: int | None = Query(None, ge=64, le=8192),
) -> Response:
    """One frame as PNG at a window (``center``/``width``) or a chest preset (lung, mediastinum, bone)."""
    window = Window(center, width) if center is not None and width is not None else None

    def render() -> bytes:
        with services.db.session() as session:
            study = study_for_station(session, principal, study_id)
            return frame_png(services, _cache(request), study, index, frame, window=window, preset=preset,
                             invert=invert, max_size=size)

    return Response(await run_in_threadpool(render), media_type="image/png", headers=_PNG_HEADERS)


@router.get("/studies/{study_id}/overlays/{number}.png")
def overlay(study_id: int, number: int, request: Request, principal: CurrentUser,
            services: ServicesDep) -> Response:
    """An AI heatmap as a transparent overlay the size of its image."""
    with services.db.session() as session:
        study = study_for_station(session, principal, study_id)
        png = overlay_png(services, _cache(request), study, number)
    return Response(png, media_type="image/png", headers=_PNG_HEADERS)


@router.get("/studies/{study_id}/priors")
def priors(study_id: int, principal: CurrentUser, services: ServicesDep) -> list[dict[str, Any]]:
    """The same patient's earlier studies of this kind that the caller may see."""
    with services.db.session() as session:
        return list_priors(session, principal, study_for_station(session, principal, study_id))


@router.get("/studies/{study_id}/ecg")
def ecg(study_id: int, principal: CurrentUser, services: ServicesDep,
        start: float = Query(0.0, ge=0), seconds: float = Query(10.0, gt=0, le=60)) -> dict[str, Any]:
    """The tracing (integer microvolts, at most 500 Hz) and the AI measurements and statements."""
    with services.db.session() as session:
        study = study_for_station(session, principal, study_id)
        key, ai = study.ecg_record_key, [ai_out(a).model_dump(mode="json") for a in study.ai_results]
    wave = waveform_json(load_record(services.object_store, key), start_s=start, seconds=seconds)
    return {**wave, "study_id": study_id, "ai_results": ai}

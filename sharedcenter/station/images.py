"""The image viewer's data: a study's images, their frames at a window, AI overlays, priors."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sharedcenter.auth import Principal
from sharedcenter.db.models import Study
from sharedcenter.errors import InvalidInput, NotFound
from sharedcenter.imaging import (
    CHEST_PRESETS,
    Frame,
    FrameCache,
    Window,
    decode_frames,
    heatmap_rgba,
    overlay_entries,
    preset_window,
    read_heatmap,
    render_png,
)
from sharedcenter.services import Services
from sharedcenter.studies.query import get_visible_study

__all__ = ["frame_png", "list_images", "list_priors", "overlay_png", "study_frames"]


def _store_ids(services: Services, study: Study) -> list[str]:
    if not study.study_instance_uid:
        raise NotFound(f"study {study.id} has no images")
    return sorted(services.dicom_store.instance_ids(study.study_instance_uid))


def study_frames(services: Services, cache: FrameCache, study: Study, index: int) -> tuple[str, list[Frame]]:
    """The store id and decoded frames of the study's ``index``-th image.

    Raises
    ------
    NotFound
        No such image.
    """
    ids = _store_ids(services, study)
    if not 0 <= index < len(ids):
        raise NotFound(f"study {study.id} has no image {index}")
    store_id = ids[index]
    return store_id, cache.get(store_id, lambda: decode_frames(services.dicom_store.fetch(store_id)))


def _overlays(study: Study) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for ai in study.ai_results:
        for entry in overlay_entries(ai.measurements):
            out.append({**entry, "algorithm": ai.algorithm, "version": ai.algorithm_version, "index": len(out)})
    return out


def list_images(services: Services, cache: FrameCache, study: Study) -> dict[str, Any]:
    """Every image of the study with its first frame's facts, the AI overlays and the presets."""
    images = []
    for index in range(len(_store_ids(services, study))):
        _, frames = study_frames(services, cache, study, index)
        images.append({"index": index, "frames": len(frames), "sop_instance_uid": frames[0].sop_instance_uid,
                       **frames[0].info()})
    overlays = _overlays(study)
    for entry in overlays:
        uid = entry.get("sop_instance_uid")
        entry["image"] = next((i["index"] for i in images if i["sop_instance_uid"] == uid), 0)
    return {"study_id": study.id, "images": images, "overlays": overlays, "presets": list(CHEST_PRESETS)}


def frame_png(services: Services, cache: FrameCache, study: Study, index: int, frame: int, *,
              window: Window | None = None, preset: str | None = None, invert: bool = False,
              max_size: int | None = None) -> bytes:
    """One frame as PNG at the given window (or preset, or the file's default).

    Raises
    ------
    NotFound
        No such image or frame.
    InvalidInput
        An unknown preset or a bad window.
    """
    _, frames = study_frames(services, cache, study, index)
    if not 0 <= frame < len(frames):
        raise NotFound(f"image {index} of study {study.id} has no frame {frame}")
    chosen = frames[frame]
    if preset:
        window = preset_window(chosen, preset)
    return render_png(chosen, window, invert=invert, max_size=max_size)


def overlay_png(services: Services, cache: FrameCache, study: Study, number: int) -> bytes:
    """The study's ``number``-th AI heatmap as an RGBA overlay the size of its image.

    Raises
    ------
    NotFound
        No such overlay, or its artifact is missing from the object store.
    """
    overlays = _overlays(study)
    if not 0 <= number < len(overlays):
        raise NotFound(f"study {study.id} has no AI overlay {number}")
    entry = overlays[number]
    listed = list_images(services, cache, study)["images"]
    image = next((i for i in listed if i["sop_instance_uid"] == entry.get("sop_instance_uid")), listed[0])
    try:
        heat = read_heatmap(services.object_store.get(entry["key"]))
    except InvalidInput as exc:
        raise NotFound(f"AI overlay {number} of study {study.id} is unreadable: {exc}") from exc
    return heatmap_rgba(heat, (image["columns"], image["rows"]))


def list_priors(session: Session, principal: Principal, study: Study) -> list[dict[str, Any]]:
    """The same patient's other studies of the same kind that the caller may see, newest first."""
    if not study.patient_id:
        return []
    rows = session.scalars(select(Study).where(
        Study.patient_id == study.patient_id, Study.kind == study.kind, Study.id != study.id,
    ).order_by(Study.received_at.desc()).limit(20))
    out = []
    for row in rows:
        try:
            get_visible_study(session, principal, row.id)
        except NotFound:
            continue
        out.append({"id": row.id, "modality": row.modality, "description": row.description,
                    "state": row.state, "received_at": row.received_at.isoformat()})
    return out

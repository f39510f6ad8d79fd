"""Imaging pre-read inputs and pipeline: the study's instances from the DICOM store, then the analysis.

Chest radiograph studies (a CR or DX image) get the chest radiograph pre-read: its Grad-CAM
heatmaps go to the object store in the overlay format of :mod:`sharedcenter.imaging.overlay`, and
its TID 1500 SR and heatmap Secondary Capture go into the same study in the DICOM store.  Other
modalities get the DICOM summary.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pydicom

from pipelines.cxr_dicom import build_heatmap_sc, build_sr
from pipelines.cxr_image import CXR_MODALITIES, PROJECTION_SOP_CLASSES
from pipelines.cxr_preread import LABELS_ZH, CxrPreread, preread_cxr
from pipelines.dicom_summary import summarize_study
from pipelines.types import PrereadResult
from sharedcenter.errors import InvalidInput
from sharedcenter.imaging.render import to_png
from sharedcenter.services import Services

__all__ = ["is_chest_radiograph", "preread_dicom_study"]

logger = logging.getLogger(__name__)


def is_chest_radiograph(instances: Sequence[bytes]) -> bool:
    """Whether any instance's header says CR or DX, by Modality or by SOP class (what the chest
    radiograph pre-read reads; it refuses, with the reason, a CT or other image inside such a study)."""
    for data in instances:
        try:
            header = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True,
                                     specific_tags=["Modality", "SOPClassUID"])
        except (pydicom.errors.InvalidDicomError, ValueError, TypeError, EOFError, OSError):
            continue
        if (str(header.get("Modality", "")) in CXR_MODALITIES
                or str(header.get("SOPClassUID", "")) in PROJECTION_SOP_CLASSES):
            return True
    return False


def preread_dicom_study(services: Services, study_instance_uid: str) -> PrereadResult:
    """Pre-read the imaging study ``study_instance_uid``.

    Raises
    ------
    InvalidInput
        The DICOM store has no instance of the study.
    StorageUnavailable
        A store could not be reached (the task retries).
    """
    instances = list(services.dicom_store.iter_study(study_instance_uid))
    if not instances:
        raise InvalidInput(f"the DICOM store has no instances of study {study_instance_uid}")
    if not is_chest_radiograph(instances):
        return summarize_study(instances)
    outcome = preread_cxr(instances, services.settings.cxr_model_path)
    _store_artifacts(services, study_instance_uid, outcome)
    return outcome.result


def _store_artifacts(services: Services, study_instance_uid: str, outcome: CxrPreread) -> None:
    """Heatmaps to the object store; SR and heatmap Secondary Capture into the study."""
    if outcome.image is None or not any(f.source == "model" for f in outcome.result.findings):
        return
    measurements = outcome.result.measurements
    measurements["overlays"] = [_put_overlay(services, study_instance_uid, outcome, label, cam)
                                for label, cam in outcome.heatmaps.items()]
    objects: list[dict[str, Any]] = []
    header = outcome.image.header
    sr = build_sr(header, outcome.result)
    objects.append(_store(services, sr, "sr"))
    if outcome.heatmaps:
        sc = build_heatmap_sc(header, outcome.image.display, list(outcome.heatmaps.values()),
                              outcome.result.version)
        objects.append(_store(services, sc, "heatmap-sc"))
    measurements["dicom_objects"] = objects


def _put_overlay(services: Services, study_instance_uid: str, outcome: CxrPreread, label: str,
                 cam: np.ndarray[Any, Any]) -> dict[str, Any]:
    key = f"ai/overlays/{study_instance_uid}/{label.lower()}.png"
    services.object_store.put(key, to_png((np.clip(cam, 0, 1) * 255).astype(np.uint8)), "image/png")
    threshold = next((f.threshold for f in outcome.result.findings if f.code == f"cxr-{label.lower()}"), None)
    assert outcome.image is not None
    return {"kind": "heatmap", "key": key, "sop_instance_uid": outcome.image.sop_instance_uid, "frame": 0,
            "label": label, "label_zh": LABELS_ZH.get(label, label), "threshold": threshold}


def _store(services: Services, data: bytes, kind: str) -> dict[str, Any]:
    stored = services.dicom_store.store(data)
    logger.info("stored AI %s %s in study %s", kind, stored.sop_instance_uid, stored.study_instance_uid)
    return {"kind": kind, "sop_instance_uid": stored.sop_instance_uid,
            "series_instance_uid": stored.series_instance_uid}

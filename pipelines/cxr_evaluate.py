"""Evaluate the chest radiograph pre-read on a labelled folder of JPEG/PNG images.

Each image goes through the same quality gate and model as a DICOM study (as a DX image of
unknown view, so the gate's own frontal/lateral call is what gets counted).  Model figures cover
the images the gate lets through to the model; quality-gate verdicts are counted per labelled view.
"""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset

from models.cxr_data import CxrItem, read_folder
from models.cxr_metrics import summary
from pipelines.cxr_image import CxrImage
from pipelines.cxr_preread import analyse

__all__ = ["evaluate_folder", "image_of"]


def image_of(item: CxrItem) -> CxrImage:
    """A labelled picture as a :class:`CxrImage` (DX, chest, view left for the gate to call)."""
    with Image.open(item.path) as picture:
        display = np.asarray(picture.convert("L"), dtype=np.float32) / 255.0
    header = Dataset()
    header.Modality = "DX"
    return CxrImage(header, display, "DX", "", "CHEST", item.path.name)


def evaluate_folder(folder: Path, model_path: str | Path | None = None, rounds: int = 1000) -> dict[str, Any]:
    """``n``, ``auroc_abnormal``, ``sensitivity``, ``specificity`` (shipped threshold), CIs and gate verdicts.

    Raises
    ------
    ValueError
        ``folder`` has no labels CSV or no readable labelled image.
    """
    items = read_folder(folder)
    if not items:
        raise ValueError(f"{folder} has no labelled image")
    verdicts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    labels, scores, threshold = [], [], 0.5
    for item in items:
        quality, prediction = analyse(image_of(item), model_path)
        verdicts[item.view or "?"][f"{quality.verdict.value}:{quality.view}"] += 1
        if prediction is not None:
            k = prediction.labels.index("abnormal") if "abnormal" in prediction.labels else 0
            labels.append(item.abnormal)
            scores.append(float(prediction.probabilities[k]))
            threshold = prediction.thresholds[k]
    figures = summary(np.array(labels, dtype=bool), np.array(scores), threshold, rounds) if labels else {}
    return {"n": len(items), "n_scored": len(labels), "auroc_abnormal": figures.get("auroc"),
            "sensitivity": figures.get("sensitivity"), "specificity": figures.get("specificity"),
            "threshold": threshold, "ci95": figures.get("ci95"), "positives": figures.get("positives"),
            "quality_by_view": {view: dict(counts) for view, counts in sorted(verdicts.items())}}

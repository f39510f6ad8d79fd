"""AI heatmaps: the stored artifact format and its rendering as a transparent overlay.

Artifact format (what a pre-read pipeline stores)::

    object store  ai/overlays/<study id>/<name>.png   8-bit greyscale PNG, value/255 = probability,
                                                      any size (stretched over the image)
    AIResult.measurements["overlays"] = [
        {"kind": "heatmap", "key": "ai/overlays/12/pneumothorax.png",
         "sop_instance_uid": "1.2...",   # the image it lies on (None: the study's first image)
         "frame": 0, "label": "Pneumothorax", "label_zh": "气胸", "threshold": 0.5},
    ]

The overlay PNG served to the viewer is RGBA: a blue-to-red colour ramp whose opacity grows with
the probability; values below ``floor`` are fully transparent.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from sharedcenter.errors import InvalidInput
from sharedcenter.imaging.render import to_png

__all__ = ["heatmap_rgba", "overlay_entries", "read_heatmap"]


def overlay_entries(measurements: dict[str, Any]) -> list[dict[str, Any]]:
    """The well-formed overlay entries of an AIResult's measurements (others are ignored)."""
    entries = measurements.get("overlays") or []
    return [e for e in entries if isinstance(e, dict) and e.get("kind") == "heatmap" and isinstance(e.get("key"), str)]


def read_heatmap(data: bytes) -> npt.NDArray[np.float32]:
    """A stored heatmap PNG as probabilities in 0..1.

    Raises
    ------
    InvalidInput
        The bytes are not an image.
    """
    try:
        image = Image.open(io.BytesIO(data)).convert("L")
    except OSError as exc:
        raise InvalidInput(f"the heatmap is not a readable image: {exc}") from exc
    return np.asarray(image, dtype=np.float32) / 255.0


def heatmap_rgba(probability: npt.NDArray[np.float32], size: tuple[int, int], *, floor: float = 0.1,
                 max_alpha: float = 0.6) -> bytes:
    """The heatmap stretched to ``size`` (width, height) as an RGBA PNG overlay."""
    image = Image.fromarray((np.clip(probability, 0, 1) * 255).astype(np.uint8)).resize(
        size, Image.Resampling.BILINEAR)
    p = np.asarray(image, dtype=np.float32) / 255.0
    rgba = np.zeros((*p.shape, 4), dtype=np.uint8)
    rgba[..., 0] = (255 * np.clip(2 * p, 0, 1)).astype(np.uint8)
    rgba[..., 1] = (255 * np.clip(1 - abs(2 * p - 1), 0, 1)).astype(np.uint8)
    rgba[..., 2] = (255 * np.clip(2 - 2 * p, 0, 1) * (p < 0.5)).astype(np.uint8)
    alpha = np.where(p >= floor, max_alpha * 255 * (p - floor) / max(1 - floor, 1e-6), 0)
    rgba[..., 3] = np.clip(alpha, 0, 255).astype(np.uint8)
    return to_png(rgba)

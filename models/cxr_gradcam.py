"""Probabilities and Grad-CAM heatmaps of a chest radiograph model for one image."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import torch

from models.cxr_load import CxrModel

__all__ = ["predict", "predict_with_cam"]

FloatArray = npt.NDArray[np.float32]


def predict(model: CxrModel, display: npt.NDArray[np.floating]) -> FloatArray:
    """Per-label probabilities for one displayed image (2-D, 0 black .. 1 white)."""
    batch = torch.from_numpy(model.prepare(display, model.input_size)[np.newaxis]).to(model.device)
    with torch.no_grad():
        logits = model.network(batch)
    return torch.sigmoid(logits)[0].cpu().numpy().astype(np.float32)


def predict_with_cam(model: CxrModel, display: npt.NDArray[np.floating],
                     explain: Sequence[int]) -> tuple[FloatArray, dict[int, FloatArray]]:
    """Probabilities, and a Grad-CAM map (0..1, feature-map resolution) for each label in ``explain``.

    Each map is the ReLU of the gradient-weighted feature maps, scaled so its maximum is the label's
    probability: a stored heatmap's value/255 then reads as a probability.
    """
    batch = torch.from_numpy(model.prepare(display, model.input_size)[np.newaxis]).to(model.device)
    with torch.enable_grad():
        maps = model.network.feature_maps(batch).detach().requires_grad_(True)  # type: ignore[operator]
        logits = model.network.classify(maps)  # type: ignore[operator]
        probabilities = torch.sigmoid(logits)[0].detach().cpu().numpy().astype(np.float32)
        cams = {index: _cam(maps, logits[0, index], float(probabilities[index])) for index in explain}
    return probabilities, cams


def _cam(maps: torch.Tensor, logit: torch.Tensor, probability: float) -> FloatArray:
    (grads,) = torch.autograd.grad(logit, maps, retain_graph=True)
    weights = grads.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * maps).sum(dim=1))[0].detach().cpu().numpy().astype(np.float32)
    peak = float(cam.max())
    return (cam / peak * probability).astype(np.float32) if peak > 0 else np.zeros_like(cam)

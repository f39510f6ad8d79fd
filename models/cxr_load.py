"""Load a chest radiograph model once per process, in eval mode, on the device chosen once.

Two weight formats are recognised:

- the project's own (``models/weights/cxr_small.pt``): ``{"state_dict": ..., "meta": {...}}`` with
  ``meta["architecture"] == "CxrSmallNet"``, two labels (abnormal, opacity);
- a DenseNet-121 ChestX-ray14 checkpoint (torchvision parameter names, optionally wrapped in
  ``state_dict`` and prefixed ``module.``/``densenet121.``; see :mod:`models.cxr_densenet`), 14 labels,
  ImageNet-normalised 3-channel 224 px input.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from models.cxr_densenet import CHESTXRAY14_LABELS, DenseNet121, normalise_state_dict
from models.cxr_input import densenet_input, small_input
from models.cxr_net import CxrSmallNet
from models.device import select_device

__all__ = ["DEFAULT_WEIGHTS", "DEFAULT_WEIGHTS_FLAG", "CxrModel", "load_cxr_model"]

logger = logging.getLogger(__name__)

#: The project's shipped default weights (see ``cxr_small.md`` beside them).
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "cxr_small.pt"
#: Whether the shipped default may flag findings.  False: trained on the few images the project has, it
#: is no better than chance on held-out patients (abnormal AUROC 0.45), so its probabilities are reported
#: for information only; a hospital's validated checkpoint (``SHAREDCENTER_CXR_MODEL_PATH``) flags.
DEFAULT_WEIGHTS_FLAG = False
#: Decision threshold of a ChestX-ray14 checkpoint that does not carry its own.
DENSENET_THRESHOLD = 0.5


@dataclasses.dataclass(frozen=True, slots=True)
class CxrModel:
    """A loaded network with its labels, thresholds and input preparation."""

    network: nn.Module
    architecture: str
    version: str
    labels: tuple[str, ...]
    thresholds: tuple[float, ...]
    input_size: int
    prepare: Callable[[npt.NDArray[np.floating], int], npt.NDArray[np.float32]]
    device: torch.device
    weights: str


def load_cxr_model(path: str | Path | None = None) -> CxrModel:
    """The model at ``path`` (the shipped default when None), loaded once per process.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        The file is neither format, or its tensors do not fit the architecture.
    """
    return _load(str(Path(path).expanduser().resolve()) if path else str(DEFAULT_WEIGHTS))


@functools.cache
def _load(path: str) -> CxrModel:
    if not Path(path).is_file():
        raise FileNotFoundError(f"chest radiograph weights not found: {path}")
    device = select_device()
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError, ValueError) as exc:
        raise ValueError(f"{path} is not a torch weights file: {exc}") from exc
    model = _small(blob, path) if _is_small(blob) else _densenet(blob, path)
    model.network.to(device).eval()
    logger.info("loaded %s %s from %s on %s", model.architecture, model.version, path, device)
    return dataclasses.replace(model, device=device)


def _is_small(blob: Any) -> bool:
    return isinstance(blob, dict) and isinstance(blob.get("meta"), dict) and \
        blob["meta"].get("architecture") == "CxrSmallNet"


def _load_state(network: nn.Module, state: dict[str, torch.Tensor], path: str) -> None:
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"{path} does not fit {type(network).__name__}: {exc}") from exc


def _small(blob: dict[str, Any], path: str) -> CxrModel:
    meta = blob["meta"]
    labels = tuple(str(label) for label in meta["labels"])
    network = CxrSmallNet(num_classes=len(labels))
    _load_state(network, blob["state_dict"], path)
    return CxrModel(network, "CxrSmallNet", str(meta["version"]), labels,
                    tuple(float(t) for t in meta["thresholds"]), int(meta["input_size"]), small_input,
                    torch.device("cpu"), path)


def _densenet(blob: Any, path: str) -> CxrModel:
    state = blob.get("state_dict", blob) if isinstance(blob, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds no state dict")
    network = DenseNet121(num_classes=len(CHESTXRAY14_LABELS))
    _load_state(network, normalise_state_dict(state), path)
    return CxrModel(network, "DenseNet121", Path(path).stem, CHESTXRAY14_LABELS,
                    (DENSENET_THRESHOLD,) * len(CHESTXRAY14_LABELS), 224, densenet_input,
                    torch.device("cpu"), path)

"""A compact 1-D ResNet for the 9 CPSC-2018 classes of a 12-lead ECG (multi-label, sigmoid).

Input: 12 leads in the standard order, 500 Hz, 10 s (5000 samples), millivolts.  The network is
built and its weights loaded lazily, once per process and weights path, in eval mode, on the
device of :func:`models.device.select_device`.  A weights file is a torch checkpoint holding
``state_dict``, ``classes``, ``thresholds``, ``version`` and ``train_records`` (the records it was
trained on, which an evaluation must leave out).
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from models.device import select_device

if TYPE_CHECKING:
    import torch

    from sharedcenter.ecg.record import EcgRecord

__all__ = [
    "CLASSES",
    "DEFAULT_WEIGHTS",
    "FS",
    "LEADS",
    "N_SAMPLES",
    "EcgClassifier",
    "build_network",
    "load_classifier",
    "to_input",
]

logger = logging.getLogger(__name__)

#: The 9 CPSC-2018 classes, in output order.
CLASSES: tuple[str, ...] = ("Normal", "AF", "I-AVB", "LBBB", "RBBB", "PAC", "PVC", "STD", "STE")
LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
FS = 500.0
N_SAMPLES = 5000
#: The weights shipped with the project.
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "ecg_cnn.pt"


def build_network(n_classes: int = len(CLASSES), width: int = 32) -> torch.nn.Module:
    """The compact 1-D ResNet (about 0.2 M parameters)."""
    from torch import nn

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv1d(cin, cout, 9, stride=2, padding=4, bias=False), nn.BatchNorm1d(cout), nn.ReLU(),
                nn.Dropout(0.2), nn.Conv1d(cout, cout, 9, padding=4, bias=False), nn.BatchNorm1d(cout))
            self.skip = nn.Sequential(nn.Conv1d(cin, cout, 1, stride=2, bias=False), nn.BatchNorm1d(cout))
            self.act = nn.ReLU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.act(self.body(x) + self.skip(x))  # type: ignore[no-any-return]

    return nn.Sequential(
        nn.Conv1d(len(LEADS), width, 15, stride=2, padding=7, bias=False), nn.BatchNorm1d(width), nn.ReLU(),
        Block(width, width), Block(width, 2 * width), Block(2 * width, 2 * width), Block(2 * width, 4 * width),
        nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Dropout(0.3), nn.Linear(4 * width, n_classes),
    )


def to_input(signal: npt.NDArray[np.floating[Any]], fs: float, leads: tuple[str, ...]) -> npt.NDArray[np.float32]:
    """Model input ``(12, N_SAMPLES)`` from a ``(n, n_leads)`` mV signal: standard leads (missing ones
    zero), resampled to 500 Hz, centre 10 s (zero-padded when shorter), per-record mean removed."""
    from scipy.signal import resample_poly

    out = np.zeros((len(LEADS), signal.shape[0]), dtype=np.float64)
    for i, name in enumerate(LEADS):
        if name in leads:
            out[i] = signal[:, leads.index(name)]
    if abs(fs - FS) > 1e-6:
        out = resample_poly(out, int(round(FS)), int(round(fs)), axis=1)
    out -= np.median(out, axis=1, keepdims=True)
    if out.shape[1] >= N_SAMPLES:
        start = (out.shape[1] - N_SAMPLES) // 2
        return np.ascontiguousarray(out[:, start : start + N_SAMPLES], dtype=np.float32)
    padded = np.zeros((len(LEADS), N_SAMPLES), dtype=np.float32)
    padded[:, : out.shape[1]] = out
    return padded


class EcgClassifier:
    """A loaded network with its classes and thresholds; :meth:`predict` gives probabilities."""

    def __init__(self, network: torch.nn.Module, classes: tuple[str, ...], thresholds: dict[str, float],
                 version: str, path: Path, train_records: tuple[str, ...] = ()) -> None:
        self.network = network
        self.classes = classes
        self.thresholds = thresholds
        self.version = version
        self.path = path
        self.train_records = train_records
        self.name = "sharedcenter.ecg-cnn"

    def predict(self, record: EcgRecord) -> dict[str, float]:
        """Probability per class for one record."""
        return self.predict_array(to_input(record.signal, record.fs, record.leads))

    def predict_array(self, x: npt.NDArray[np.float32]) -> dict[str, float]:
        """Probability per class for one ``(12, N_SAMPLES)`` input."""
        import torch

        device = select_device()
        with torch.inference_mode():
            logits = self.network(torch.from_numpy(x[None]).to(device))
            probabilities = torch.sigmoid(logits)[0].cpu().numpy()
        return {name: float(p) for name, p in zip(self.classes, probabilities, strict=True)}


def load_classifier(path: Path | str | None = None) -> EcgClassifier:
    """The classifier of weights file ``path`` (default :data:`DEFAULT_WEIGHTS`), loaded once per process.

    Raises
    ------
    FileNotFoundError
        No weights file at ``path``.
    ValueError
        The file is not weights of this architecture.
    """
    return _load(Path(path or DEFAULT_WEIGHTS).expanduser().resolve())


@functools.cache
def _load(path: Path) -> EcgClassifier:
    import torch

    if not path.is_file():
        raise FileNotFoundError(f"ECG model weights not found: {path}")
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    classes = tuple(checkpoint.get("classes", CLASSES))
    network = build_network(len(classes), int(checkpoint.get("width", 32)))
    try:
        network.load_state_dict(checkpoint["state_dict"])
    except (KeyError, RuntimeError) as exc:
        raise ValueError(f"{path} does not hold weights of the ECG 1-D ResNet: {exc}") from exc
    network.eval().to(select_device())
    thresholds = {c: float(checkpoint.get("thresholds", {}).get(c, 0.5)) for c in classes}
    logger.info("ECG model loaded from %s (version %s)", path, checkpoint.get("version"))
    return EcgClassifier(network, classes, thresholds, str(checkpoint.get("version", "unknown")), path,
                         tuple(checkpoint.get("train_records", ())))

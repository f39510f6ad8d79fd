"""Training of :mod:`models.ecg_cnn` on a labelled 12-lead folder (``labels.csv`` with ``cpsc9_*`` flags).

The split is by record (each record is one patient's ECG in these sources), deterministic from the
record name (:func:`is_held_out`), so training and evaluation agree without a list; the trained
records are stored in the checkpoint as well.  Augmentation: random 10 s crops, amplitude scaling,
Gaussian noise, baseline wander and random lead dropout (a zeroed lead).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models.ecg_cnn import CLASSES, FS, LEADS, N_SAMPLES, build_network
from models.ecg_cnn import to_input as to_input

__all__ = ["HELD_OUT_SHARE", "SKILL_MARGIN", "LabelledRecord", "TrainConfig", "choose_thresholds", "fold_of",
           "is_held_out", "load_folder", "out_of_fold_probabilities", "predict_records", "read_labelled", "train"]

logger = logging.getLogger(__name__)

#: Share of records kept out of training, chosen by a hash of the record name.
HELD_OUT_SHARE = 0.35


@dataclasses.dataclass(frozen=True, slots=True)
class LabelledRecord:
    name: str
    signal: npt.NDArray[np.float32]  # (12, n) at 500 Hz, mV
    labels: npt.NDArray[np.float32]  # (9,)


@dataclasses.dataclass(frozen=True, slots=True)
class TrainConfig:
    epochs: int = 30
    batch_size: int = 16
    learning_rate: float = 2e-3
    seed: int = 0
    width: int = 32


def is_held_out(record: str) -> bool:
    """Whether ``record`` belongs to the held-out (evaluation) part of the split."""
    digest = hashlib.sha256(record.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < HELD_OUT_SHARE


def _gains(header: Path) -> list[float]:
    gains = []
    for line in header.read_text().splitlines()[1:13]:
        match = re.match(r"\S+\s+\S+\s+([\d.]+)", line)
        gains.append(float(match.group(1)) if match else 1000.0)
    return gains


def read_labelled(folder: Path, row: dict[str, str]) -> npt.NDArray[np.float32]:
    """The ``(12, n)`` mV signal of one ``labels.csv`` row, at 500 Hz."""
    name, fs = row["record"], float(row.get("fs") or FS)
    if row.get("format", "").startswith("hdf5"):
        import h5py

        with h5py.File(folder / "sph" / f"{name}.h5") as h5:
            signal = np.asarray(h5["ecg"][()], dtype=np.float64).T
    else:
        from scipy.io import loadmat

        values = np.asarray(loadmat(folder / "records" / f"{name}.mat")["val"], dtype=np.float64)
        signal = (values / np.asarray(_gains(folder / "records" / f"{name}.hea"))[:, None]).T
    return to_input(signal, fs, LEADS) if signal.shape[0] <= fs * 10 else _full_length(signal, fs)


def _full_length(signal: npt.NDArray[np.float64], fs: float) -> npt.NDArray[np.float32]:
    from scipy.signal import resample_poly

    out = signal.T if abs(fs - FS) < 1e-6 else resample_poly(signal.T, int(FS), int(fs), axis=1)
    return np.asarray(out - np.median(out, axis=1, keepdims=True), dtype=np.float32)


def load_folder(folder: Path, *, held_out: bool | None = None) -> list[LabelledRecord]:
    """Records of ``folder/labels.csv``; ``held_out`` True/False: only that side of the split."""
    with (folder / "labels.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    out = []
    for row in rows:
        if held_out is not None and is_held_out(row["record"]) != held_out:
            continue
        labels = np.array([float(row.get(f"cpsc9_{c}", "0") == "1") for c in CLASSES], dtype=np.float32)
        out.append(LabelledRecord(row["record"], read_labelled(folder, row), labels))
    return out


def _crop(signal: npt.NDArray[np.float32], rng: np.random.Generator) -> npt.NDArray[np.float32]:
    if signal.shape[1] <= N_SAMPLES:
        out = np.zeros((len(LEADS), N_SAMPLES), dtype=np.float32)
        out[:, : signal.shape[1]] = signal
        return out
    start = int(rng.integers(0, signal.shape[1] - N_SAMPLES + 1))
    return signal[:, start : start + N_SAMPLES]


def augment(signal: npt.NDArray[np.float32], rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """A random crop with amplitude scaling, noise, baseline wander and maybe one zeroed lead."""
    x = _crop(signal, rng) * rng.uniform(0.8, 1.2)
    x = x + rng.normal(0.0, rng.uniform(0.0, 0.03), x.shape)
    t = np.arange(N_SAMPLES) / FS
    x = x + rng.uniform(0.0, 0.2) * np.sin(2 * np.pi * rng.uniform(0.05, 0.4) * t + rng.uniform(0, 6.3))
    if rng.random() < 0.2:
        x[int(rng.integers(0, len(LEADS)))] = 0.0
    return x.astype(np.float32)


def train(records: list[LabelledRecord], config: TrainConfig, device: Any = None) -> dict[str, Any]:
    """Train the network on ``records``; returns the checkpoint (``state_dict`` and metadata)."""
    import torch

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    device = device or torch.device("cpu")
    network = build_network(len(CLASSES), config.width).to(device)
    y = np.stack([r.labels for r in records])
    positives = y.sum(axis=0)
    pos_weight = torch.tensor(np.clip((len(records) - positives) / np.maximum(positives, 1), 1, 20),
                              dtype=torch.float32, device=device)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    optimiser = torch.optim.AdamW(network.parameters(), lr=config.learning_rate, weight_decay=1e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, config.learning_rate, total_steps=config.epochs * -(-len(records) // config.batch_size))
    for epoch in range(config.epochs):
        network.train()
        order, total = rng.permutation(len(records)), 0.0
        for start in range(0, len(order), config.batch_size):
            batch = order[start : start + config.batch_size]
            x = torch.from_numpy(np.stack([augment(records[i].signal, rng) for i in batch])).to(device)
            loss = loss_fn(network(x), torch.from_numpy(y[batch]).to(device))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item() * len(batch)
        logger.info("epoch %d/%d loss %.4f", epoch + 1, config.epochs, total / len(records))
    network.eval()
    return {"state_dict": {k: v.cpu() for k, v in network.state_dict().items()}, "classes": list(CLASSES),
            "width": config.width, "thresholds": {c: 0.5 for c in CLASSES},
            "train_records": [r.name for r in records], "epochs": config.epochs, "seed": config.seed}


def fold_of(record: str, folds: int) -> int:
    """The cross-validation fold of a training record, from a hash of its name (independent of the split's)."""
    digest = hashlib.sha256(f"fold:{record}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % folds


def predict_records(checkpoint: dict[str, Any], records: list[LabelledRecord]) -> npt.NDArray[np.float64]:
    """Probabilities ``(len(records), len(CLASSES))`` of a checkpoint's network on the centre 10 s of each record."""
    import torch

    network = build_network(len(CLASSES), int(checkpoint.get("width", 32)))
    network.load_state_dict(checkpoint["state_dict"])
    network.eval()
    rows = []
    with torch.inference_mode():
        for record in records:
            x = to_input(record.signal.T, FS, LEADS)
            rows.append(torch.sigmoid(network(torch.from_numpy(x[None])))[0].numpy())
    return np.asarray(rows, dtype=np.float64)


def out_of_fold_probabilities(records: list[LabelledRecord], config: TrainConfig, folds: int,
                              device: Any = None) -> npt.NDArray[np.float64]:
    """Each training record's probabilities from a network trained on the other folds only.

    Raises
    ------
    ValueError
        ``folds`` is under 2 or more than the number of records.
    """
    if not 2 <= folds <= len(records):
        raise ValueError(f"folds must be between 2 and the number of records ({len(records)}), got {folds}")
    assignment = np.array([fold_of(r.name, folds) for r in records])
    out = np.zeros((len(records), len(CLASSES)))
    for k in range(folds):
        inside = [r for r, f in zip(records, assignment, strict=True) if f != k]
        outside = [r for r, f in zip(records, assignment, strict=True) if f == k]
        logger.info("fold %d/%d: training on %d, predicting %d records", k + 1, folds, len(inside), len(outside))
        checkpoint = train(inside, config, device)
        out[assignment == k] = predict_records(checkpoint, outside)
    return out


#: Out-of-fold F1 must beat calling every record positive by this much, or the class is switched off.
SKILL_MARGIN = 0.05


def choose_thresholds(labels: npt.NDArray[np.float32], probabilities: npt.NDArray[np.float64]) -> dict[str, Any]:
    """Per-class threshold that maximises F1 on out-of-fold probabilities (the higher one on ties).

    A class the out-of-fold networks show no skill on gets threshold 1.0, so the model never adds it
    on its own: no positive record, or a best F1 within :data:`SKILL_MARGIN` of the F1 of calling
    every record positive (``2 p / (1 + p)`` at prevalence ``p``; the best "threshold" is then just
    the lowest one).  Returns ``{"thresholds", "oof_f1", "all_positive_f1", "positives"}``.
    """
    thresholds: dict[str, float] = {}
    scores: dict[str, float | None] = {}
    trivial: dict[str, float] = {}
    positives: dict[str, int] = {}
    for k, name in enumerate(CLASSES):
        y, p = labels[:, k] > 0.5, probabilities[:, k]
        positives[name] = int(y.sum())
        prevalence = float(y.mean())
        trivial[name] = round(2 * prevalence / (1 + prevalence), 4)
        if not y.any():
            thresholds[name], scores[name] = 1.0, None
            continue
        best = (-1.0, 0.5)
        for t in np.unique(np.concatenate([p, [0.5]])):
            hit = p >= t
            f1 = 2 * (hit & y).sum() / max(hit.sum() + y.sum(), 1)
            best = max(best, (float(f1), float(t)))
        scores[name] = round(best[0], 4)
        skilled = best[0] > trivial[name] + SKILL_MARGIN
        thresholds[name] = round(min(max(best[1], 0.05), 0.95), 4) if skilled else 1.0
    return {"thresholds": thresholds, "oof_f1": scores, "all_positive_f1": trivial, "positives": positives}

"""Train and evaluate the shipped small chest radiograph model (``python -m models.cxr_train``).

Held-out split by patient (stratified so both classes are in the test part), class-weighted BCE,
light augmentation (random crop and scale, brightness/contrast), fixed seed.  Writes the weights
(``cxr_small.pt``: state dict, labels, thresholds, input size, version) and a JSON of the held-out
figures with bootstrap CIs, from which the model card is written.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from PIL import Image

from models.cxr_data import CxrItem, read_folder
from models.cxr_input import small_input
from models.cxr_metrics import summary
from models.cxr_net import INPUT_SIZE, SMALL_LABELS, CxrSmallNet

__all__ = ["main", "split_by_patient", "train"]

logger = logging.getLogger(__name__)

VERSION = "0.1.0"
THRESHOLD = 0.5
_LOAD_SIZE = 144


def _load(item: CxrItem) -> npt.NDArray[np.float32]:
    with Image.open(item.path) as image:
        grey = image.convert("L").resize((_LOAD_SIZE, _LOAD_SIZE), Image.Resampling.BILINEAR)
    return np.asarray(grey, dtype=np.float32) / 255.0


def split_by_patient(items: Sequence[CxrItem], test_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices of train and test items; each patient on one side, normals and abnormals split alike."""
    rng = np.random.default_rng(seed)
    test: set[str] = set()
    for abnormal in (False, True):
        patients = sorted({it.patient for it in items if it.abnormal == abnormal} - test)
        rng.shuffle(patients)
        test.update(patients[: max(1, round(len(patients) * test_fraction))])
    train_idx = [i for i, it in enumerate(items) if it.patient not in test]
    test_idx = [i for i, it in enumerate(items) if it.patient in test]
    return train_idx, test_idx


def _augment(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random crop (80-100 %) resized back, random brightness/contrast jitter."""
    out = []
    for image in batch:
        side = int(_LOAD_SIZE * float(torch.empty(1).uniform_(0.8, 1.0, generator=generator)))
        top, left = (int(torch.randint(0, _LOAD_SIZE - side + 1, (1,), generator=generator)) for _ in range(2))
        crop = image[:, top:top + side, left:left + side]
        gain = float(torch.empty(1).uniform_(0.8, 1.25, generator=generator))
        shift = float(torch.empty(1).uniform_(-0.1, 0.1, generator=generator))
        out.append(torch.clamp((crop - 0.5) * gain + 0.5 + shift, 0, 1).unsqueeze(0))
    return torch.cat([torch.nn.functional.interpolate(o, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear")
                      for o in out])


def _standardise(batch: torch.Tensor) -> torch.Tensor:
    mean = batch.mean(dim=(1, 2, 3), keepdim=True)
    std = batch.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
    return (batch - mean) / std


def train(images: npt.NDArray[np.float32], targets: npt.NDArray[np.float32], epochs: int, seed: int) -> CxrSmallNet:
    """Train :class:`CxrSmallNet` on ``images`` (N, H, W in 0..1) and ``targets`` (N, labels)."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = CxrSmallNet()
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=epochs)
    y = torch.from_numpy(targets)
    positives = y.sum(0).clamp_min(1)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=(len(y) - positives) / positives)
    x = torch.from_numpy(images).unsqueeze(1)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for start in range(0, len(x), 16):
            index = order[start:start + 16]
            logits = model(_standardise(_augment(x[index], generator)))
            loss = loss_fn(logits, y[index])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item() * len(index)
        schedule.step()
        logger.info("epoch %d loss %.4f", epoch, total / len(x))
    return model.eval()


@torch.no_grad()
def _predict(model: CxrSmallNet, images: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    batch = torch.from_numpy(np.stack([small_input(image, INPUT_SIZE) for image in images]))
    return torch.sigmoid(model(batch)).numpy().astype(np.float64)


def _evaluate(model: CxrSmallNet, images: npt.NDArray[np.float32], items: Sequence[CxrItem]) -> dict[str, object]:
    scores = _predict(model, images)
    return {label: summary(np.array([getattr(it, label) for it in items]), scores[:, k], THRESHOLD)
            for k, label in enumerate(SMALL_LABELS)}


def main(argv: Sequence[str] | None = None) -> None:
    """Train on the shared data folders, evaluate on the held-out patients, write weights and figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "weights" / "cxr_small.pt")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--test-fraction", type=float, default=0.3)
    parser.add_argument("--cc-by-only", action="store_true", help="train only on CC BY licensed images")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    items = [it for folder in args.folders for it in read_folder(folder) if it.view != "L"]
    if args.cc_by_only:
        items = [it for it in items if it.license.startswith("CC BY") and "NC" not in it.license]
    train_idx, test_idx = split_by_patient(items, args.test_fraction, args.seed)
    images = np.stack([_load(it) for it in items])
    targets = np.array([[float(getattr(it, label)) for label in SMALL_LABELS] for it in items], dtype=np.float32)
    start = time.perf_counter()
    model = train(images[train_idx], targets[train_idx], args.epochs, args.seed)
    figures = {"version": VERSION, "train_s": round(time.perf_counter() - start, 1),
               "train": {"images": len(train_idx), "patients": len({items[i].patient for i in train_idx}),
                         "normals": int(sum(not items[i].abnormal for i in train_idx))},
               "test": _evaluate(model, images[test_idx], [items[i] for i in test_idx]),
               "test_patients": len({items[i].patient for i in test_idx}),
               "test_sources": {s: sum(items[i].source == s for i in test_idx) for s in ("covid", "kermany")},
               "licenses": sorted({it.license for it in items}), "epochs": args.epochs, "seed": args.seed}
    meta = {"labels": list(SMALL_LABELS), "thresholds": [THRESHOLD] * len(SMALL_LABELS),
            "input_size": INPUT_SIZE, "version": VERSION, "architecture": "CxrSmallNet"}
    torch.save({"state_dict": model.state_dict(), "meta": meta}, args.out)
    args.out.with_suffix(".json").write_text(json.dumps(figures, indent=1), encoding="utf-8")
    logger.info("%s", json.dumps(figures["test"], indent=1))


if __name__ == "__main__":
    main()

"""``sharedcenter models``: train the pre-read models."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import click
import numpy as np

__all__ = ["models_"]


@click.group("models")
def models_() -> None:
    """Train and inspect the AI pre-read models."""


@models_.group("train")
def train_() -> None:
    """Train a model on labelled data."""


@train_.command("ecg")
@click.option("--data", "data", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
              help="folder with labels.csv (cpsc9_* flags), records/ and sph/")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="weights file to write")
@click.option("--epochs", type=click.IntRange(1), default=30, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", "device_name", default="auto", show_default=True, help="auto, cpu or cuda[:N]")
def train_ecg(data: Path, out: Path, epochs: int, seed: int, device_name: str) -> None:
    """Train the 12-lead 1-D CNN on the training side of the record split of DATA."""
    import torch

    from models.device import select_device
    from models.ecg_train import TrainConfig, load_folder, train

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    records = load_folder(data, held_out=False)
    click.echo(f"training on {len(records)} records of {data}")
    start = time.perf_counter()
    checkpoint = train(records, TrainConfig(epochs=epochs, seed=seed), select_device(device_name))
    checkpoint["version"] = f"1.0.0+{data.name}-e{epochs}-s{seed}"
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, out)
    click.echo(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB) in {time.perf_counter() - start:.0f} s")


@models_.group("thresholds")
def thresholds_() -> None:
    """Choose decision thresholds on out-of-fold predictions of the training records."""


@thresholds_.command("ecg")
@click.option("--data", "data", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
              help="folder with labels.csv (cpsc9_* flags), records/ and sph/")
@click.option("--weights", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="checkpoint whose thresholds are set (rewritten in place)")
@click.option("--folds", type=click.IntRange(2), default=3, show_default=True)
@click.option("--epochs", type=click.IntRange(1), default=20, show_default=True, help="epochs of each fold's network")
@click.option("--device", "device_name", default="auto", show_default=True, help="auto, cpu or cuda[:N]")
def thresholds_ecg(data: Path, weights: Path, folds: int, epochs: int, device_name: str) -> None:
    """Per-class thresholds of the 12-lead CNN: F1-optimal on out-of-fold predictions of its training records.

    Only the checkpoint's own ``train_records`` are used (never the held-out records); each fold's network
    is trained like the shipped one on the other folds.  The thresholds are stored in the checkpoint; a class
    without skill out of fold gets 1.0 (never added by the model alone).
    """
    import torch

    from models.device import select_device
    from models.ecg_train import TrainConfig, choose_thresholds, load_folder, out_of_fold_probabilities

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    checkpoint = torch.load(weights, map_location="cpu", weights_only=True)
    trained = set(checkpoint.get("train_records", ()))
    if not trained:
        raise click.BadParameter(f"{weights} lists no train_records: its training records are unknown",
                                 param_hint="--weights")
    records = [r for r in load_folder(data, held_out=False) if r.name in trained]
    if len(records) != len(trained):
        raise click.BadParameter(f"{len(trained) - len(records)} of the checkpoint's training records are not "
                                 f"in {data}", param_hint="--data")
    if folds > len(records):
        raise click.BadParameter(f"{folds} folds for {len(records)} training records", param_hint="--folds")
    start = time.perf_counter()
    probabilities = out_of_fold_probabilities(
        records, TrainConfig(epochs=epochs, seed=int(checkpoint.get("seed", 0))), folds, select_device(device_name))
    chosen = choose_thresholds(np.stack([r.labels for r in records]), probabilities)
    checkpoint["thresholds"] = chosen["thresholds"]
    base = str(checkpoint.get("version", "unknown")).split("-thr-")[0]
    checkpoint["version"] = f"{base}-thr-oof{folds}e{epochs}"  # other thresholds, other outputs: another version
    checkpoint["threshold_method"] = {"method": "F1-optimal on out-of-fold predictions of the training records",
                                      "folds": folds, "epochs": epochs, "oof_f1": chosen["oof_f1"],
                                      "all_positive_f1": chosen["all_positive_f1"],
                                      "positives": chosen["positives"]}
    partial = weights.with_name(weights.name + ".partial")  # the weights file is never left half-written
    torch.save(checkpoint, partial)
    partial.replace(weights)
    for name, threshold in chosen["thresholds"].items():
        click.echo(f"{name}: threshold {threshold} (out-of-fold F1 {chosen['oof_f1'][name]}, all-positive F1 "
                   f"{chosen['all_positive_f1'][name]}, {chosen['positives'][name]} positives)")
    click.echo(f"wrote thresholds into {weights} in {time.perf_counter() - start:.0f} s")

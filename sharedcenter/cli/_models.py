"""``sharedcenter models``: train the pre-read models."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import click

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
@click.option("--epochs", type=int, default=30, show_default=True)
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

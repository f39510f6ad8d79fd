"""The labelled 12-lead records of ``../shared/data/ecg12_cinc`` as :class:`EcgRecord` objects, for tests
that check a rule on a named real record (the test is skipped where the data set is absent)."""

from __future__ import annotations

import csv

import numpy as np

from models.ecg_cnn import FS, LEADS
from models.ecg_train import read_labelled
from sharedcenter.ecg import EcgRecord
from tests.data_paths import require_data

__all__ = ["labelled_ecg", "labelled_ecgs"]


def labelled_ecgs(names: tuple[str, ...] | None = None, dx: str | None = None) -> list[tuple[str, str, EcgRecord]]:
    """``(record, dx_abbrev, record)`` of the labelled records named (all if ``None``) with diagnosis ``dx``."""
    folder = require_data("ecg12_cinc")
    with (folder / "labels.csv").open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle)
                if (names is None or r["record"] in names) and (dx is None or r["dx_abbrev"] == dx)]
    return [(r["record"], r["dx_abbrev"],
             EcgRecord(np.ascontiguousarray(read_labelled(folder, r).T), FS, LEADS, "labelled")) for r in rows]


def labelled_ecg(name: str) -> EcgRecord:
    """The one labelled record ``name``."""
    [(_, _, record)] = labelled_ecgs((name,))
    return record

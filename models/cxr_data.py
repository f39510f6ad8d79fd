"""Labelled chest radiograph folders in the two formats of the shared data.

- ``metadata.csv`` (COVID-19 image data collection): ``filename`` under ``images/``, ``patientid``,
  ``view`` (PA, AP, AP Supine, L), ``label_coarse`` (COVID-19, Other pneumonia, No Finding, Other
  non-infectious), ``license``.
- ``labels.csv`` (Kermany pediatric pneumonia): ``filename`` under ``NORMAL/`` or ``PNEUMONIA/``,
  ``label`` (NORMAL or PNEUMONIA); the patient is read from the file name.
"""

from __future__ import annotations

import csv
import dataclasses
import re
from pathlib import Path

__all__ = ["CxrItem", "read_folder"]

_PNEUMONIA = {"COVID-19", "Other pneumonia", "PNEUMONIA"}
_NORMAL = {"No Finding", "NORMAL"}
_KERMANY_PATIENT = re.compile(r"^(NORMAL2-IM-\d+|person\d+)")


@dataclasses.dataclass(frozen=True, slots=True)
class CxrItem:
    """One labelled image."""

    path: Path
    patient: str
    view: str
    abnormal: bool
    opacity: bool
    license: str
    source: str


def read_folder(folder: Path) -> list[CxrItem]:
    """The labelled images of ``folder`` (``metadata.csv`` or ``labels.csv``); missing files skipped.

    Raises
    ------
    ValueError
        ``folder`` holds neither CSV.
    """
    if (folder / "metadata.csv").is_file():
        return [item for item in _read_metadata(folder) if item.path.is_file()]
    if (folder / "labels.csv").is_file():
        return [item for item in _read_labels(folder) if item.path.is_file()]
    raise ValueError(f"folder {folder} has neither metadata.csv nor labels.csv")


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _read_metadata(folder: Path) -> list[CxrItem]:
    items = []
    for row in _rows(folder / "metadata.csv"):
        label = row.get("label_coarse") or ("No Finding" if row.get("finding") == "No Finding" else "COVID-19")
        image = folder / (row.get("folder") or "images") / row["filename"]
        items.append(CxrItem(image, f"covid-{row.get('patientid', row['filename'])}", row.get("view", ""),
                             label not in _NORMAL, label in _PNEUMONIA, row.get("license", ""), "covid"))
    return items


def _read_labels(folder: Path) -> list[CxrItem]:
    items = []
    for row in _rows(folder / "labels.csv"):
        label = row["label"].strip().upper()
        match = _KERMANY_PATIENT.match(row["filename"])
        patient = match.group(1) if match else row["filename"]
        image = folder / label / row["filename"]
        if not image.is_file():
            image = folder / row["filename"]
        items.append(CxrItem(image, f"kermany-{patient}", "PA", label not in _NORMAL, label in _PNEUMONIA,
                             "CC BY 4.0", "kermany"))
    return items

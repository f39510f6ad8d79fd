"""ECG pre-read inputs and pipeline: the original files by the record's manifest, then the analysis."""

from __future__ import annotations

import json

from pipelines.ecg_rate import preread_ecg
from pipelines.types import PrereadResult
from sharedcenter.ecg.read import read_ecg
from sharedcenter.services import Services

__all__ = ["ecg_files", "preread_ecg_record"]


def ecg_files(services: Services, key: str) -> dict[str, bytes]:
    """The original files of ECG record ``key`` from the object store."""
    manifest = json.loads(services.object_store.get(f"ecg/records/{key}.json"))
    return {name: services.object_store.get(f"ecg/original/{sha}") for name, sha in manifest["files"].items()}


def preread_ecg_record(services: Services, key: str) -> PrereadResult:
    """Pre-read ECG record ``key``."""
    return preread_ecg(read_ecg(ecg_files(services, key)))

"""ECG pre-read inputs and pipeline: the original files by the record's manifest, then the analysis."""

from __future__ import annotations

import json
import logging

from models.ecg_cnn import EcgClassifier, load_classifier
from pipelines.ecg_preread import preread_12lead
from pipelines.types import PrereadResult
from sharedcenter.config import Settings
from sharedcenter.ecg.read import read_ecg
from sharedcenter.services import Services

__all__ = ["ecg_files", "ecg_model", "preread_ecg_record"]

logger = logging.getLogger(__name__)


def ecg_files(services: Services, key: str) -> dict[str, bytes]:
    """The original files of ECG record ``key`` from the object store."""
    manifest = json.loads(services.object_store.get(f"ecg/records/{key}.json"))
    return {name: services.object_store.get(f"ecg/original/{sha}") for name, sha in manifest["files"].items()}


def ecg_model(settings: Settings) -> EcgClassifier | None:
    """The configured ECG classifier (loaded once per process), or None when disabled or missing.

    A missing shipped weights file degrades to criteria-only statements with a warning; a configured
    ``ecg_model_path`` that cannot be loaded raises (a deployment error, not a study's).
    """
    if not settings.ecg_model_enabled:
        return None
    if settings.ecg_model_path is not None:
        return load_classifier(settings.ecg_model_path)
    try:
        return load_classifier()
    except FileNotFoundError as exc:
        logger.warning("ECG model unavailable, criteria only: %s", exc)
        return None


def preread_ecg_record(services: Services, key: str) -> PrereadResult:
    """Pre-read ECG record ``key``: measurements, criteria and model statements, critical flags."""
    return preread_12lead(read_ecg(ecg_files(services, key)), ecg_model(services.settings))

"""Imaging pre-read inputs and pipeline: the study's instances from the DICOM store, then the analysis."""

from __future__ import annotations

from pipelines.dicom_summary import summarize_study
from pipelines.types import PrereadResult
from sharedcenter.errors import InvalidInput
from sharedcenter.services import Services

__all__ = ["preread_dicom_study"]


def preread_dicom_study(services: Services, study_instance_uid: str) -> PrereadResult:
    """Pre-read the imaging study ``study_instance_uid``.

    Raises
    ------
    InvalidInput
        The DICOM store has no instance of the study.
    """
    instances = list(services.dicom_store.iter_study(study_instance_uid))
    if not instances:
        raise InvalidInput(f"the DICOM store has no instances of study {study_instance_uid}")
    return summarize_study(instances)

"""The pre-read service the task calls: fetch inputs by id, run the pipeline, record the outcome."""

from __future__ import annotations

import logging
import time

from pipelines.types import PrereadResult
from sharedcenter.enums import StudyKind
from sharedcenter.errors import InvalidInput
from sharedcenter.services import Services
from sharedcenter.studies import PrereadJob, begin_preread, fail_preread, record_preread
from worker._dicom import preread_dicom_study
from worker._ecg import preread_ecg_record

__all__ = ["fail", "run_preread"]

logger = logging.getLogger(__name__)


def _compute(services: Services, job: PrereadJob) -> PrereadResult:
    start = time.perf_counter()
    if job.kind is StudyKind.ECG:
        assert job.ecg_record_key is not None
        result = preread_ecg_record(services, job.ecg_record_key)
    else:
        assert job.study_instance_uid is not None
        result = preread_dicom_study(services, job.study_instance_uid)
    result.timings["total_s"] = round(time.perf_counter() - start, 4)
    return result


def run_preread(services: Services, study_id: int) -> str:
    """Pre-read one study; idempotent (a study already pre-read or being signed is skipped).

    Returns
    -------
    str
        ``"stored"``, ``"skipped"`` or ``"failed"`` (a domain error: the input cannot be read).

    Raises
    ------
    StorageUnavailable
        A store could not be reached: the task retries later.
    """
    with services.db.session() as session:
        job = begin_preread(session, study_id)
    if job is None:
        logger.info("study %s needs no pre-read", study_id)
        return "skipped"
    try:
        result = _compute(services, job)
    except InvalidInput as exc:
        fail(services, study_id, str(exc))
        return "failed"
    with services.db.session() as session:
        record_preread(session, study_id, result.to_json(), queue=services.queue)
    logger.info("study %s pre-read by %s %s in %.3f s", study_id, result.algorithm, result.version,
                result.timings.get("total_s", 0.0))
    return "stored"


def fail(services: Services, study_id: int, reason: str) -> None:
    """Record that the pre-read of ``study_id`` gave up."""
    with services.db.session() as session:
        fail_preread(session, study_id, reason)

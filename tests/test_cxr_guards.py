"""Guards of the imaging pre-read: images over 64 megapixels are refused before decoding, JPEG 2000
streams that OpenJPEG would decode silently into garbage are refused, and a study whose pre-read
kills the worker process twice ends as failed with the reason instead of looping."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate, generate_frames
from sqlalchemy import func, select

from pipelines.cxr_preread import preread_cxr
from pipelines.dicom_summary import summarize_study
from sharedcenter.auth import Principal
from sharedcenter.db.models import AuditEvent, Study
from sharedcenter.enums import AuditAction
from sharedcenter.errors import InvalidInput
from sharedcenter.imaging._j2k import check_j2k_codestream
from sharedcenter.imaging.render import MAX_FRAME_PIXELS, decode_frames
from sharedcenter.services import Services
from sharedcenter.studies import UploadedFile, ingest_upload
from sharedcenter.studies.preread import MAX_PREREAD_STARTS
from tests.data_paths import require_data
from tests.utils.processes import poll, settings_env
from worker._preread import run_preread


def _save(ds: pydicom.Dataset) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


@pytest.fixture(scope="module")
def huge_cr() -> bytes:
    """The real CR's header over a real 8200 x 8200 8-bit image (67.2 megapixels, 67 MB of zeros)."""
    ds = pydicom.dcmread(require_data("cxr_dicom_samples", "RG1_UNCR.dcm"))
    ds.Rows = ds.Columns = 8200
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelData = bytes(8200 * 8200)
    return _save(ds)


def test_huge_image_is_refused_before_decoding(huge_cr: bytes) -> None:
    assert MAX_FRAME_PIXELS < 8200 * 8200
    with pytest.raises(InvalidInput, match="67 megapixels.*over the 64 megapixel limit"):
        decode_frames(huge_cr)
    outcome = preread_cxr([huge_cr])
    [finding] = outcome.result.findings
    assert finding.code == "cannot-preread" and "64 megapixel limit" in finding.label
    [image] = summarize_study([huge_cr]).measurements["images"]
    assert image["decoded"] is False and "64 megapixel limit" in image["reason"]


def _j2k_frame() -> bytes:
    ds = pydicom.dcmread(require_data("cxr_dicom_samples", "RG1_J2KI.dcm"))
    [frame] = list(generate_frames(ds.PixelData, number_of_frames=1))
    return bytes(frame)


@pytest.mark.parametrize(("change", "reason"), [
    (lambda s: s[: len(s) // 2], "truncated: no EOC"),
    (lambda s: s[:-4000] + s[-2:], "truncated: a tile-part"),
    (lambda s: s[:5000] + b"\xff" * 500 + s[5500:], "marker 0xffff inside packet data"),
    (lambda s: s[:5000] + bytes(range(256)) * 2 + s[5512:], "inside packet data"),
    (lambda s: b"\0\0" + s[2:], "does not start with SOC"),
])
def test_garbled_jpeg2000_is_refused_though_openjpeg_decodes_it(change: object, reason: str) -> None:
    frame = _j2k_frame()
    check_j2k_codestream(frame)  # the real stream passes
    with pytest.raises(InvalidInput, match=reason):
        check_j2k_codestream(change(frame))  # type: ignore[operator]


def test_garbled_jpeg2000_gives_cannot_preread() -> None:
    ds = pydicom.dcmread(require_data("cxr_dicom_samples", "RG1_J2KI.dcm"))
    frame = _j2k_frame()
    ds.PixelData = encapsulate([frame[:5000] + b"\xff" * 500 + frame[5500:]])
    garbled = _save(ds)
    assert np.asarray(ds.pixel_array).shape == (1955, 1841)  # OpenJPEG itself decodes it without a word
    [finding] = preread_cxr([garbled]).result.findings
    assert finding.code == "cannot-preread" and "JPEG 2000 stream is corrupt" in finding.label


def _starts(services: Services, study_id: int) -> int:
    with services.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.study_id == study_id, AuditEvent.action == AuditAction.PREREAD_STARTED.value)) or 0)


_CHILD = ("import sys; from sharedcenter.config import load_settings; from sharedcenter.services import Services; "
          "from worker._preread import run_preread; run_preread(Services.from_settings(load_settings()), "
          "int(sys.argv[1]))")


def test_preread_that_kills_the_worker_twice_ends_failed(services: Services, people: dict[str, Principal]) -> None:
    """A real pre-read process is killed (SIGKILL, as the OOM killer does) once its start mark is committed,
    twice; the next delivery finds two unfinished starts and fails the study with the reason."""
    cr = require_data("cxr_dicom_samples", "RG1_UNCR.dcm").read_bytes()
    with services.db.session() as session:
        [outcome] = ingest_upload(services, session, "c01-t01", [UploadedFile("cxr.dcm", cr)])
        study_id = outcome.study.id
    for attempt in range(1, MAX_PREREAD_STARTS + 1):
        child = subprocess.Popen([sys.executable, "-c", _CHILD, str(study_id)], env=settings_env(services.settings),
                                 cwd=Path(__file__).resolve().parents[1])
        try:
            poll(lambda n=attempt: _starts(services, study_id) >= n, 60, f"start mark {attempt}", interval=0.02)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        assert child.returncode == -signal.SIGKILL  # killed mid-work, not finished
        with services.db.session() as session:
            assert session.get(Study, study_id).state == "prereading"  # type: ignore[union-attr]
    assert run_preread(services, study_id) == "skipped"
    with services.db.session() as session:
        study = session.get(Study, study_id)
        assert study is not None and study.state == "failed"
        assert study.error is not None and "stopped the worker process 2 times" in study.error
    # a specialist's re-queue of the failed study starts afresh (its failure is the last outcome)
    assert run_preread(services, study_id) == "stored"

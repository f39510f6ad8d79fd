"""Chest radiographs sent by dcmtk's ``storescu`` to a real Orthanc configured by sharedcenter, caught up by
the API's sync loop, pre-read by a real worker process: AIResult, TID 1500 SR and heatmap Secondary Capture
in the study (clean under dicom3tools' ``dciodvfy``), study on the worklist; an unknown AE title is refused
by Orthanc; bad images end as "cannot pre-read: reason", never stuck in ``prereading``."""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pydicom
import pytest
import torch
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import generate_uid

from models.cxr_load import DEFAULT_WEIGHTS
from sharedcenter.auth import create_user
from sharedcenter.config import load_settings
from sharedcenter.region import load_region, read_region
from sharedcenter.services import Services
from sharedcenter.storage.orthanc import OrthancDicomStore
from tests.conftest import PASSWORD, login, serve_api
from tests.data_paths import require_data
from tests.servers import OrthancServer
from tests.utils.processes import poll, worker_process

pytestmark = [
    pytest.mark.servers, pytest.mark.slow,
    pytest.mark.skipif(shutil.which("storescu") is None or shutil.which("dciodvfy") is None,
                       reason="dcmtk's storescu or dicom3tools' dciodvfy is not installed"),
]

KNOWN_AE = "C01T01DR"  # site c01-t01 of the example region
CR_STORAGE = "1.2.840.10008.5.1.4.1.1.1"
COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"


@dataclass
class Stack:
    orthanc: OrthancServer
    services: Services
    client: httpx.Client
    store: OrthancDicomStore
    worker: subprocess.Popen[bytes]
    tmp: Path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Orthanc accepting C01T01DR, the API with its sync loop, one worker process (filesystem broker)."""
    tmp = tmp_path_factory.mktemp("cxr_storescu")
    orthanc = OrthancServer(tmp / "orthanc", modalities=[(KNOWN_AE, "127.0.0.1")], stable_age=1)
    orthanc.start()
    # The shipped model never flags (it is at chance): a copy whose thresholds are 0 flags every label,
    # so that Grad-CAM heatmaps and their Secondary Capture are made.  Everything else is the shipped model.
    weights = tmp / "flag-all.pt"
    blob = torch.load(DEFAULT_WEIGHTS, weights_only=True)
    blob["meta"]["thresholds"] = [0.0] * len(blob["meta"]["thresholds"])
    torch.save(blob, weights)
    settings = load_settings(env="test", data_dir=tmp / "var", secret_key="test-secret-key-storescu",
                             dicom_store="orthanc", orthanc_url=orthanc.url, orthanc_user=orthanc.user,
                             orthanc_password=orthanc.password, orthanc_sync_interval_s=0.5,
                             orthanc_stable_age_s=1, cxr_model_path=weights)
    services = Services.from_settings(settings)
    services.db.upgrade()
    with services.db.session() as session:
        load_region(session, read_region(settings.region_file))
        create_user(session, "rad", PASSWORD, "radiologist", center_code="c01-img")
    try:
        with worker_process(settings, tmp / "worker.log") as worker, serve_api(services, background=True) as url, \
                httpx.Client(base_url=url, timeout=60) as client, orthanc.dicom_store() as store:
            yield Stack(orthanc, services, client, store, worker, tmp)
    finally:
        services.close()
        orthanc.stop()


def _write(ds: pydicom.Dataset, path: Path, study_uid: str | None = None) -> tuple[Path, str]:
    """``ds`` with fresh UIDs (or the given study UID) saved at ``path``; returns the path and study UID."""
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.save_as(path, enforce_file_format=True)
    return path, str(ds.StudyInstanceUID)


def _cr(name: str = "RG1_UNCR.dcm") -> pydicom.Dataset:
    return pydicom.dcmread(require_data("cxr_dicom_samples", name))


def _storescu(stack: Stack, calling_aet: str, *paths: Path) -> subprocess.CompletedProcess[str]:
    # -xw proposes JPEG 2000 (lossy) besides the uncompressed syntaxes, as a modality that compresses would
    argv = ["storescu", "-xw", "-aet", calling_aet, "-aec", stack.orthanc.aet, "127.0.0.1",
            str(stack.orthanc.dicom_port), *map(str, paths)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def _worklist(stack: Stack) -> dict[str, dict[str, Any]]:
    rows = stack.client.get("/api/worklist", headers=login(stack.client, "rad")).json()
    return {row["study_instance_uid"]: row for row in rows}


def _done(stack: Stack, uid: str) -> Callable[[], dict[str, Any] | None]:
    def check() -> dict[str, Any] | None:
        assert stack.worker.poll() is None, "the worker process died"
        row = _worklist(stack).get(uid)
        return row if row and row["state"] in {"preread", "failed"} else None
    return check


def _ai(stack: Stack, study_id: int) -> dict[str, Any]:
    study = stack.client.get(f"/api/studies/{study_id}", headers=login(stack.client, "rad")).json()
    [ai] = [row for row in study["ai_results"] if row["algorithm"] == "sharedcenter.cxr-preread"]
    return dict(ai)


def _dciodvfy_errors(data: bytes, path: Path) -> list[str]:
    path.write_bytes(data)
    run = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, check=False)
    return [line for line in (run.stdout + run.stderr).splitlines() if line.startswith("Error")]


def test_storescu_from_known_ae_gets_preread_sr_heatmap_and_worklist(stack: Stack) -> None:
    path, uid = _write(_cr(), stack.tmp / "cr.dcm")
    sent = _storescu(stack, KNOWN_AE, path)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    row = poll(_done(stack, uid), 180, "the storescu'd radiograph to be pre-read")
    assert row["state"] == "preread" and row["site_code"] == "c01-t01" and row["modality"] == "CR"
    ai = _ai(stack, row["id"])
    assert ai["automatic"] and ai["preliminary_text"].startswith("【AI 预阅")
    assert {f["code"] for f in ai["findings"] if f["flagged"]} >= {"cxr-abnormal", "cxr-opacity"}
    assert {o["kind"] for o in ai["measurements"]["dicom_objects"]} == {"sr", "heatmap-sc"}

    instances = {}
    for store_id in stack.store.instance_ids(uid):
        data = stack.store.fetch(store_id)
        instances[str(pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True).SOPClassUID)] = data
    assert set(instances) == {CR_STORAGE, COMPREHENSIVE_SR, SECONDARY_CAPTURE}
    sr = pydicom.dcmread(io.BytesIO(instances[COMPREHENSIVE_SR]))
    assert sr.ContentTemplateSequence[0].TemplateIdentifier == "1500" and sr.VerificationFlag == "UNVERIFIED"
    assert _dciodvfy_errors(instances[COMPREHENSIVE_SR], stack.tmp / "sr.dcm") == []
    assert _dciodvfy_errors(instances[SECONDARY_CAPTURE], stack.tmp / "sc.dcm") == []


def test_storescu_from_unknown_ae_is_refused_and_nothing_is_stored(stack: Stack) -> None:
    path, uid = _write(_cr(), stack.tmp / "stranger.dcm")
    sent = _storescu(stack, "STRANGER01", path)
    assert sent.returncode != 0
    assert "reject" in (sent.stdout + sent.stderr).lower(), sent.stdout + sent.stderr
    assert stack.store.instance_ids(uid) == []
    assert uid not in _worklist(stack)


def _j2k_with(change: Callable[[bytes], bytes]) -> pydicom.Dataset:
    """The real JPEG 2000 CR with its codestream changed, re-encapsulated so the DICOM file stays valid."""
    ds = _cr("RG1_J2KI.dcm")
    [frame] = list(generate_frames(ds.PixelData, number_of_frames=1))
    ds.PixelData = encapsulate([change(frame)])
    return ds


def _truncated_j2k() -> pydicom.Dataset:
    return _j2k_with(lambda stream: stream[: len(stream) // 3 // 2 * 2])  # a link cut mid-stream


def _corrupted_j2k() -> pydicom.Dataset:
    return _j2k_with(lambda stream: stream[:200] + b"\xff" * 2000 + stream[2200:])  # same length, bytes garbled


def _tiny() -> pydicom.Dataset:
    ds = _cr()
    ds.Rows = ds.Columns = 1
    ds.PixelData = b"\0\0"
    return ds


def _no_pixels() -> pydicom.Dataset:
    ds = _cr()
    del ds.PixelData
    return ds


def _ct_labelled_cr() -> pydicom.Dataset:
    ds = pydicom.dcmread(str(get_testdata_file("CT_small.dcm")))
    ds.Modality = "CR"
    return ds


def _sr_labelled_cr() -> pydicom.Dataset:
    ds = pydicom.dcmread(str(get_testdata_file("test-SR.dcm")))
    ds.Modality = "CR"  # a non-image object sent as a chest radiograph
    return ds


BAD = {
    "non-image-as-cr": (_sr_labelled_cr, "cannot-preread", "no image with pixel data"),
    "truncated-j2k": (_truncated_j2k, "cannot-preread", "JPEG 2000 stream is truncated"),
    "corrupted-j2k": (_corrupted_j2k, "cannot-preread", "JPEG 2000 stream is corrupt"),
    "1x1": (_tiny, "qc-image-size", "Image of 1x1 px cannot be a chest radiograph"),  # the quality gate's retake
    "no-pixel-data": (_no_pixels, "cannot-preread", "no image with pixel data"),
    "ct-sop-class-as-cr": (_ct_labelled_cr, "cannot-preread", "CT Image Storage image with Modality CR"),
}


def test_bad_images_by_storescu_end_with_a_reason_and_the_worker_lives(stack: Stack) -> None:
    sent: dict[str, str] = {}
    for name, (make, _, _) in BAD.items():
        path, uid = _write(make(), stack.tmp / f"{name}.dcm")
        run = _storescu(stack, KNOWN_AE, path)
        assert run.returncode == 0, f"{name}: {run.stdout}{run.stderr}"
        sent[name] = uid
    # a CT (Modality CT) sent into a chest radiograph study beside a good CR
    cr_path, mixed = _write(_cr(), stack.tmp / "mixed-cr.dcm")
    ct_path, _ = _write(pydicom.dcmread(str(get_testdata_file("CT_small.dcm"))), stack.tmp / "mixed-ct.dcm", mixed)
    assert _storescu(stack, KNOWN_AE, cr_path, ct_path).returncode == 0
    sent["ct-in-cr-study"] = mixed
    expected = {name: (code, text) for name, (_, code, text) in BAD.items()}
    expected["ct-in-cr-study"] = ("cannot-preread", "CT Image Storage image with Modality CT")

    for name, uid in sent.items():
        row = poll(_done(stack, uid), 180, f"the {name} study to leave prereading")
        ai = _ai(stack, row["id"])
        flagged = [f for f in ai["findings"] if f["flagged"]]
        assert flagged and all(f.get("source") != "model" for f in ai["findings"]), (name, ai["findings"])
        code, text = expected[name]
        assert flagged[0]["code"] == code and text in flagged[0]["label"], (name, flagged)
        assert ai["preliminary_text"].startswith("【AI 预阅")
        assert ("无法预阅" if code == "cannot-preread" else "需重拍") in ai["preliminary_text"], ai["preliminary_text"]
    assert stack.worker.poll() is None

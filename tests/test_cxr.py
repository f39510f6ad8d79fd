"""Chest radiograph pre-read: DenseNet-121 layout, quality gate, bad input, SR/SC under dciodvfy, worker."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch
from click.testing import CliRunner
from pydicom.data import get_testdata_file
from sqlalchemy import select

from models.cxr_densenet import CHESTXRAY14_LABELS, DenseNet121, normalise_state_dict
from models.cxr_load import DEFAULT_WEIGHTS, load_cxr_model
from pipelines.cxr_dicom import build_heatmap_sc, build_sr
from pipelines.cxr_preread import preread_cxr
from pipelines.cxr_quality import Verdict
from sharedcenter.auth import Principal
from sharedcenter.cli._eval_cxr import cxr
from sharedcenter.db.models import AIResult, Study
from sharedcenter.services import Services
from sharedcenter.studies import UploadedFile, ingest_upload
from tests.data_paths import require_data
from worker._preread import run_preread

needs_dciodvfy = pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools dciodvfy not installed")


@pytest.fixture(scope="module")
def chest_cr() -> bytes:
    return require_data("cxr_dicom_samples", "RG1_UNCR.dcm").read_bytes()


def _modified(data: bytes, **tags: object) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(data))
    for keyword, value in tags.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    out = io.BytesIO()
    ds.save_as(out)
    return out.getvalue()


def _errors(data: bytes, tmp_path: Path, name: str) -> list[str]:
    path = tmp_path / name
    path.write_bytes(data)
    run = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, check=False)
    return [line for line in (run.stdout + run.stderr).splitlines() if line.startswith("Error")]


def test_densenet121_has_torchvision_names_and_loads_published_layouts(tmp_path: Path) -> None:
    net = DenseNet121()
    keys = net.state_dict().keys()
    assert {"features.conv0.weight", "features.norm0.running_var", "features.denseblock4.denselayer16.conv2.weight",
            "features.transition3.conv.weight", "features.norm5.bias", "classifier.weight"} <= set(keys)
    assert sum(p.numel() for p in net.parameters()) == 6_968_206  # torchvision densenet121(num_classes=14)
    old = {"module.densenet121." + k.replace("norm1", "norm.1").replace("conv2", "conv.2")
           .replace("classifier.", "classifier.0."): v for k, v in net.state_dict().items()}
    assert set(normalise_state_dict(old)) == set(keys)
    path = tmp_path / "chexnet.pth.tar"
    torch.save({"epoch": 1, "state_dict": old}, path)
    model = load_cxr_model(path)
    assert model.architecture == "DenseNet121" and model.labels == CHESTXRAY14_LABELS
    assert not model.network.training


def test_shipped_model_is_small_and_loads_once() -> None:
    assert DEFAULT_WEIGHTS.stat().st_size < 10_000_000
    assert load_cxr_model() is load_cxr_model(None)
    assert load_cxr_model().labels == ("abnormal", "opacity")


@needs_dciodvfy
def test_real_chest_cr_gets_a_preread_sr_and_heatmap_sc(chest_cr: bytes, tmp_path: Path) -> None:
    outcome = preread_cxr([chest_cr])
    assert outcome.quality is not None and outcome.quality.verdict is Verdict.OK and outcome.quality.frontal
    model = [f for f in outcome.result.findings if f.source == "model"]
    assert {f.code for f in model} == {"cxr-abnormal", "cxr-opacity"}
    # the shipped default is no better than chance on held-out patients: shown, never flagged
    assert not any(f.flagged for f in model) and all("information only" in f.evidence for f in model)
    assert outcome.result.preliminary_text.startswith("【AI 预阅")
    assert outcome.image is not None
    sr = build_sr(outcome.image.header, outcome.result)
    cam = np.zeros((4, 4), np.float32)
    cam[1:3, 1:3] = 0.8
    sc = build_heatmap_sc(outcome.image.header, outcome.image.display, [cam], "t")
    assert _errors(sr, tmp_path, "sr.dcm") == [] and _errors(sc, tmp_path, "sc.dcm") == []
    parsed = pydicom.dcmread(io.BytesIO(sr))
    assert parsed.ContentTemplateSequence[0].TemplateIdentifier == "1500" and parsed.VerificationFlag == "UNVERIFIED"
    assert pydicom.dcmread(io.BytesIO(sc)).StudyInstanceUID == outcome.image.header.StudyInstanceUID


def test_monochrome1_is_inverted_before_the_model(chest_cr: bytes) -> None:
    inverted = preread_cxr([chest_cr]).image  # RG1_UNCR is MONOCHROME1
    plain = preread_cxr([_modified(chest_cr, PhotometricInterpretation="MONOCHROME2")]).image
    assert plain is not None and inverted is not None
    assert np.allclose(plain.display, 1.0 - inverted.display, atol=1e-5)


def test_lateral_view_asks_for_a_retake(chest_cr: bytes) -> None:
    outcome = preread_cxr([_modified(chest_cr, ViewPosition="LL")])
    assert outcome.quality is not None and outcome.quality.verdict is Verdict.RETAKE
    assert [f.code for f in outcome.result.findings] == ["qc-not-frontal"]
    assert "请重拍" in outcome.result.preliminary_text


def _tiny(chest_cr: bytes) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(chest_cr))
    ds.Rows = ds.Columns = 1
    ds.PixelData = b"\0\0"
    out = io.BytesIO()
    ds.save_as(out)
    return out.getvalue()


def _corrupt_j2k() -> bytes:
    ds = pydicom.dcmread(require_data("cxr_dicom_samples", "RG1_J2KI.dcm"))
    ds.PixelData = ds.PixelData[:200] + b"\xff" * 200 + ds.PixelData[-200:]
    out = io.BytesIO()
    ds.save_as(out)
    return out.getvalue()


@pytest.mark.parametrize("case", ["sr", "ct", "tiny", "no-pixels", "corrupt-j2k", "not-dicom"])
def test_bad_input_gives_a_reason_never_a_crash(case: str, chest_cr: bytes) -> None:
    data = {
        "sr": lambda: Path(str(get_testdata_file("test-SR.dcm"))).read_bytes(),
        "ct": lambda: Path(str(get_testdata_file("CT_small.dcm"))).read_bytes(),
        "tiny": lambda: _tiny(chest_cr),
        "no-pixels": lambda: _modified(chest_cr, PixelData=None),
        "corrupt-j2k": _corrupt_j2k,
        "not-dicom": lambda: b"hello",
    }[case]()
    outcome = preread_cxr([data])
    flagged = [f.code for f in outcome.result.findings if f.flagged]
    assert flagged and (flagged[0] == "cannot-preread" or flagged[0].startswith("qc-")), flagged
    assert all(f.source != "model" for f in outcome.result.findings)


def test_worker_stores_overlays_sr_and_sc(services: Services, people: dict[str, Principal], chest_cr: bytes,
                                          tmp_path: Path) -> None:
    weights = tmp_path / "flag-all.pt"
    blob = torch.load(DEFAULT_WEIGHTS, weights_only=True)
    blob["meta"]["thresholds"] = [0.0, 0.0]  # flag every label, so heatmaps and the SC are made
    torch.save(blob, weights)
    services.settings.cxr_model_path = weights
    with services.db.session() as session:
        [outcome] = ingest_upload(services, session, "c01-t01", [UploadedFile("cxr.dcm", chest_cr)])
        study_id = outcome.study.id
    assert run_preread(services, study_id) == "stored"
    with services.db.session() as session:
        study = session.get(Study, study_id)
        assert study is not None and study.state == "preread"
        [row] = session.scalars(select(AIResult)).all()
        assert row.algorithm == "sharedcenter.cxr-preread"
        overlays, objects = row.measurements["overlays"], row.measurements["dicom_objects"]
        uid = study.study_instance_uid
    assert {o["label"] for o in overlays} == {"abnormal", "opacity"}
    assert all(services.object_store.get(o["key"]).startswith(b"\x89PNG") for o in overlays)
    assert {o["kind"] for o in objects} == {"sr", "heatmap-sc"}
    assert len(services.dicom_store.instance_ids(uid)) == 3


def test_eval_cli_prints_json_last() -> None:
    folder = require_data("cxr_kermany_pneumonia")
    result = CliRunner().invoke(cxr, [str(folder), "--json", "--bootstrap", "50"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert figures["n"] == 12 and set(figures) >= {"auroc_abnormal", "sensitivity", "specificity", "quality_by_view"}

"""The viewers' data: DICOM frames with window/level and presets (a real MONOCHROME1 chest radiograph),
an AI heatmap overlay created here, priors, and the ECG waveform read back from the originals."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from sharedcenter.ecg import read_ecg
from sharedcenter.errors import InvalidInput
from sharedcenter.imaging import Window, decode_frames, preset_window, render_png
from sharedcenter.services import Services
from tests.conftest import login
from tests.station_helpers import CXR, ecg_preread, heatmap_preread, preread, upload
from tests.utils import dicom_bytes, simulated_wfdb


def _png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def test_monochrome1_is_inverted_and_windowed() -> None:
    if not CXR.exists():
        pytest.skip(f"{CXR} not present")
    [frame] = decode_frames(CXR.read_bytes())
    assert frame.photometric == "MONOCHROME1" and (frame.rows, frame.columns) == (1955, 1841)
    raw = pydicom.dcmread(CXR).pixel_array
    bright_raw = np.unravel_index(np.argmax(raw), raw.shape)  # highest stored value: darkest in MONOCHROME1
    grey = _png(render_png(frame, Window(13000, 26000)))
    assert grey[bright_raw] < 40 and grey.std() > 20
    narrow = _png(render_png(frame, Window(13000, 2000)))
    assert (narrow == 0).mean() + (narrow == 255).mean() > (grey == 0).mean() + (grey == 255).mean()
    assert preset_window(frame, "lung").width > preset_window(frame, "mediastinum").width
    with pytest.raises(InvalidInput, match="preset"):
        preset_window(frame, "brain")


def test_ct_presets_are_hounsfield() -> None:
    [frame] = decode_frames(dicom_bytes("CT_small.dcm"))
    assert frame.modality == "CT" and frame.pixel_spacing_mm == pytest.approx((0.661468, 0.661468))
    assert preset_window(frame, "lung") == Window(-600, 1500)
    assert frame.values.min() < -500  # the modality LUT gave Hounsfield units


def test_frames_overlay_and_priors_over_http(api: httpx.Client, services: Services) -> None:
    patient = {"PatientID": "P-PRIOR-1"}
    first = upload(api, "tech", {"a.dcm": dicom_bytes(**patient)})["id"]
    study_id = upload(api, "tech", {"b.dcm": dicom_bytes(**patient)})["id"]
    rad = login(api, "rad")
    listed = api.get(f"/api/station/studies/{study_id}/images", headers=rad).json()
    [image] = listed["images"]
    assert image["pixel_spacing_mm"] == pytest.approx([0.661468, 0.661468]) and image["rows"] == 128
    heatmap_preread(services, study_id, image["sop_instance_uid"])
    url = f"/api/station/studies/{study_id}/images/0/frames/0.png"
    default = _png(api.get(url, headers=rad).content)
    lung = _png(api.get(url, headers=rad, params={"preset": "lung"}).content)
    bone = api.get(url, headers=rad, params={"center": 400, "width": 1800, "size": 64})
    assert default.shape == (128, 128) and default.std() > 10 and not np.array_equal(default, lung)
    assert _png(bone.content).shape == (64, 64) and bone.headers["content-type"] == "image/png"
    assert api.get(url, headers=rad, params={"preset": "brain"}).status_code == 422
    assert api.get(f"/api/station/studies/{study_id}/images/3/frames/0.png", headers=rad).status_code == 404
    [overlay] = api.get(f"/api/station/studies/{study_id}/images", headers=rad).json()["overlays"]
    assert overlay["label_zh"] == "测试阴影" and overlay["image"] == 0
    rgba = _png(api.get(f"/api/station/studies/{study_id}/overlays/0.png", headers=rad).content)
    assert rgba.shape == (128, 128, 4)
    assert rgba[20:40, 20:40, 3].min() > 100 and rgba[100:, 100:, 3].max() == 0  # hot square only
    assert [p["id"] for p in api.get(f"/api/station/studies/{study_id}/priors", headers=rad).json()] == [first]
    assert api.get(url, headers=login(api, "rad_c02")).status_code == 404


def test_ecg_waveform_from_the_originals(api: httpx.Client, services: Services, tmp_path: Path) -> None:
    files = simulated_wfdb(tmp_path)
    study_id = upload(api, "tech", files)["id"]
    ecg_preread(services, study_id)
    wave = api.get(f"/api/station/studies/{study_id}/ecg", headers=login(api, "card")).json()
    assert wave["leads"][:3] == ["I", "II", "III"] and wave["fs"] == 500 and wave["units"] == "uV"
    assert len(wave["samples"]["II"]) == 5000 and wave["seconds"] == pytest.approx(10)
    record = read_ecg(files)
    expected = np.rint(record.lead("II") * 1000)
    assert np.abs(np.asarray(wave["samples"]["II"]) - expected).max() <= 1
    assert any(a["algorithm"] == "test.algorithm" for a in wave["ai_results"])
    part = api.get(f"/api/station/studies/{study_id}/ecg", headers=login(api, "card"),
                   params={"start": 2, "seconds": 2.5}).json()
    assert len(part["samples"]["V1"]) == 1250 and part["start_s"] == 2
    assert api.get(f"/api/station/studies/{study_id}/ecg", headers=login(api, "card"),
                   params={"start": 30}).status_code == 422


def test_dicom_ecg_is_decimated_to_500_hz(api: httpx.Client, services: Services) -> None:
    data = Path(str(get_testdata_file("waveform_ecg.dcm"))).read_bytes()
    study_id = upload(api, "tech", {"ecg.dcm": data})["id"]
    preread(services, study_id)
    wave = api.get(f"/api/station/studies/{study_id}/ecg", headers=login(api, "card")).json()
    assert wave["fs"] <= 500 and len(wave["leads"]) == 12
    assert max(np.ptp(wave["samples"][lead]) for lead in wave["leads"]) > 200  # real signal, not flat

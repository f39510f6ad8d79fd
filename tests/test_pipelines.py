"""Pre-read pipelines (ECG rate, DICOM study summary) and the model device, on real data."""

from __future__ import annotations

import copy
import io
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pydicom
import pytest
import wfdb
from pydicom.data import get_testdata_file

import models
import pipelines
from models import device as device_module
from pipelines import dicom_summary, ecg_rate, preread_ecg, summarize_study
from pipelines.types import PrereadResult
from sharedcenter.ecg import EcgRecord, read_dicom_waveform, read_wfdb
from sharedcenter.errors import InvalidInput
from tests.data_paths import require_data, wfdb_files

#: MIT-BIH annotation symbols that mark a beat (the rest are rhythm, noise and other labels).
MITDB_BEATS = frozenset("NLRBAaJSVrFejnE/fQ?")
REPO = Path(__file__).resolve().parents[1]


def pydicom_file(name: str) -> bytes:
    return Path(str(get_testdata_file(name, download=False))).read_bytes()


def simulated_record(tmp_path: Path, heart_rate: float, *, seed: int = 7) -> EcgRecord:
    """neurokit2's simulated ECG at a known rate, through WFDB (wrsamp) and our reader."""
    import neurokit2 as nk

    ecg = nk.ecg_simulate(duration=10, sampling_rate=500, heart_rate=heart_rate, random_state=seed)
    name = f"sim{int(heart_rate)}"
    wfdb.wrsamp(name, fs=500, units=["mV"], sig_name=["II"], p_signal=ecg[:, None], fmt=["16"], write_dir=str(tmp_path))
    return read_wfdb(wfdb_files(tmp_path, name))


def codes(result: PrereadResult) -> list[str]:
    return [finding.code for finding in result.findings]


def assert_preliminary(result: PrereadResult, algorithm: str) -> None:
    """The contract every pre-read keeps: named, versioned, labelled preliminary, JSON-able."""
    assert result.algorithm == algorithm and result.version == "0.1.0"
    assert result.preliminary_text.startswith("【AI 预阅，仅供参考，须经医师审核】")
    assert result.preliminary_text_en.startswith("[AI preliminary read - must be reviewed by a physician]")
    assert result.timings["total_s"] >= 0 and all(value >= 0 for value in result.timings.values())
    json.dumps(result.to_json(), ensure_ascii=False, allow_nan=False)


# --- public surface -----------------------------------------------------------------------------


@pytest.mark.parametrize("module", [pipelines, ecg_rate, dicom_summary, models, device_module])
def test_all_names_exist(module: ModuleType) -> None:
    for name in module.__all__:
        assert hasattr(module, name), name


def test_both_pipelines_use_the_same_preliminary_label() -> None:
    assert dicom_summary.PRELIMINARY_PREFIX_ZH == ecg_rate.PRELIMINARY_PREFIX_ZH
    assert dicom_summary.PRELIMINARY_PREFIX_EN == ecg_rate.PRELIMINARY_PREFIX_EN


@pytest.mark.parametrize("package", ["pipelines", "models"])
def test_import_does_not_load_torch_or_neurokit(package: str) -> None:
    code = f"import sys, {package}; print(sorted(m for m in ('torch', 'neurokit2') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- ECG rate -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mitdb() -> Path:
    return require_data("mitdb")


def reference_beats(mitdb: Path, record: str) -> np.ndarray:
    annotation = wfdb.rdann(str(mitdb / record), "atr")
    return np.array([s for s, sym in zip(annotation.sample, annotation.symbol, strict=True) if sym in MITDB_BEATS])


@pytest.mark.parametrize("record", ["100", "117", "215"])
def test_mitdb_rate_and_beats_match_reference_annotations(mitdb: Path, record: str) -> None:
    result = preread_ecg(read_wfdb(wfdb_files(mitdb, record)))
    beats = reference_beats(mitdb, record)
    reference_rate = 60.0 / float(np.median(np.diff(beats) / 360.0))
    values = result.measurements
    assert values["lead"] == "MLII"
    assert abs(values["beat_count"] - beats.size) <= 0.02 * beats.size
    assert values["heart_rate_bpm"] == pytest.approx(reference_rate, abs=2.0)
    assert values["detectors_agree"]
    assert_preliminary(result, "sharedcenter.ecg-rate")


def test_mitdb_100_is_normal_rate_about_75(mitdb: Path) -> None:
    result = preread_ecg(read_wfdb(wfdb_files(mitdb, "100")))
    assert result.measurements["heart_rate_bpm"] == pytest.approx(75, abs=2)
    assert codes(result) == ["normal-rate"]
    assert not result.critical
    assert "心率 75 次/分" in result.preliminary_text and "心率正常" in result.preliminary_text
    assert result.parameters["lead"] == "MLII" and result.parameters["fs_hz"] == 360.0
    assert "pantompkins1985" in result.parameters["method"]


@pytest.mark.parametrize(
    ("rate", "code", "critical"),
    [(35, "bradycardia", True), (50, "bradycardia", False), (72, "normal-rate", False),
     (120, "tachycardia", False), (170, "tachycardia", True)],
)  # fmt: skip
def test_simulated_ecg_rate_and_class(tmp_path: Path, rate: int, code: str, critical: bool) -> None:
    result = preread_ecg(simulated_record(tmp_path, rate))
    assert result.measurements["heart_rate_bpm"] == pytest.approx(rate, abs=3)
    assert codes(result)[0] == code
    assert result.findings[0].critical is critical and result.critical is critical
    assert result.findings[0].flagged is (code != "normal-rate")
    assert_preliminary(result, "sharedcenter.ecg-rate")


def test_dicom_waveform_rate_is_plausible() -> None:
    result = preread_ecg(read_dicom_waveform(pydicom_file("waveform_ecg.dcm")))
    assert 40 < result.measurements["heart_rate_bpm"] < 120
    assert result.measurements["lead"] == "II" and result.parameters["fs_hz"] == 1000.0


def test_cinc_bradycardia_and_tachycardia_labels() -> None:
    """A sinus bradycardia and a sinus tachycardia record of the CinC set get the matching class."""
    folder = require_data("ecg12_cinc", "records")
    assert codes(preread_ecg(read_wfdb(wfdb_files(folder, "E00018"))))[0] == "bradycardia"  # Dx: SB
    assert codes(preread_ecg(read_wfdb(wfdb_files(folder, "E07502"))))[0] == "tachycardia"  # Dx: STach


def test_flat_signal_is_not_measurable() -> None:
    record = EcgRecord(np.zeros((5000, 2), np.float32), 500.0, ("II", "V1"), "test")
    result = preread_ecg(record)
    assert codes(result) == ["rate-not-measurable"]
    assert result.findings[0].flagged and not result.critical
    assert "flat" in result.findings[0].evidence
    assert "无法测量心率" in result.preliminary_text and "heart_rate_bpm" not in result.measurements
    assert_preliminary(result, "sharedcenter.ecg-rate")


def test_too_short_signal_is_not_measurable(tmp_path: Path) -> None:
    full = simulated_record(tmp_path, 72)
    short = EcgRecord(full.signal[:1000], full.fs, full.leads, "test")
    result = preread_ecg(short)
    assert codes(result) == ["rate-not-measurable"]
    assert "too short" in result.findings[0].evidence and "记录过短" in result.preliminary_text


def test_flat_lead_ii_falls_back_to_a_lead_with_signal(tmp_path: Path) -> None:
    ecg = simulated_record(tmp_path, 72).signal[:, 0]
    signal = np.stack([np.zeros_like(ecg), ecg], axis=1)
    result = preread_ecg(EcgRecord(signal, 500.0, ("II", "V5"), "test"))
    assert result.measurements["lead"] == "V5"
    assert result.measurements["heart_rate_bpm"] == pytest.approx(72, abs=3)


def test_noise_is_not_called_a_critical_rate() -> None:
    noise = np.random.default_rng(0).normal(0.0, 1.0, (5000, 1)).astype(np.float32)
    result = preread_ecg(EcgRecord(noise, 500.0, ("II",), "test"))
    assert not result.critical
    assert "rate-uncertain" in codes(result) or "rate-not-measurable" in codes(result)


def test_irregular_rr_is_flagged(mitdb: Path) -> None:
    result = preread_ecg(read_wfdb(wfdb_files(mitdb, "119")))  # ventricular bigeminy
    assert "irregular-rr" in codes(result)
    assert result.measurements["rr_cv"] > 0.15


# --- DICOM summary ------------------------------------------------------------------------------


def image(result: PrereadResult, index: int = 0) -> dict[str, Any]:
    images: list[dict[str, Any]] = result.measurements["images"]
    return images[index]


def test_ct_small_summary() -> None:
    result = summarize_study([pydicom_file("CT_small.dcm")])
    study, ct = result.measurements["study"], image(result)
    assert study["modalities"] == ["CT"] and study["series_count"] == 1 and study["instance_count"] == 1
    assert ct["rows"] == 128 and ct["columns"] == 128 and ct["pixel_spacing_mm"] == [0.661468, 0.661468]
    assert ct["transfer_syntax_name"] == "Explicit VR Little Endian" and ct["decoded"] is True
    assert ct["min"] == -896.0 and ct["max"] == 1167.0  # Hounsfield units after the rescale
    assert ct["p2"] < ct["mean"] < ct["p98"]
    assert codes(result) == ["image-statistics"] and not result.critical
    assert_preliminary(result, "sharedcenter.dicom-summary")


def test_mr_small_summary_applies_the_window() -> None:
    mr = image(summarize_study([pydicom_file("MR_small.dcm")]))
    assert mr["voi_applied"] is True and 0.0 <= mr["display_mean"] <= 1.0
    assert mr["photometric_interpretation"] == "MONOCHROME2"


def test_two_series_are_counted() -> None:
    result = summarize_study([pydicom_file("CT_small.dcm"), pydicom_file("MR_small.dcm")])
    study = result.measurements["study"]
    assert study["series_count"] == 2 and study["instance_count"] == 2 and study["modalities"] == ["CT", "MR"]


@pytest.fixture(scope="module")
def chest_cr() -> bytes:
    return require_data("cxr_dicom_samples", "RG1_UNCR.dcm").read_bytes()


def test_real_chest_cr(chest_cr: bytes) -> None:
    result = summarize_study([chest_cr])
    study, cr = result.measurements["study"], image(result)
    assert study["modalities"] == ["CR"] and study["body_parts"] == ["CHEST"]
    assert cr["view_position"] == "PA" and (cr["rows"], cr["columns"]) == (1955, 1841)
    assert cr["photometric_interpretation"] == "MONOCHROME1" and cr["bits_stored"] == 15
    assert 0.3 < cr["dynamic_range"] < 0.8 and cr["saturated_fraction"] < 0.01
    assert codes(result) == ["image-statistics"]
    assert "CR" in result.preliminary_text and "CHEST" in result.preliminary_text


def test_monochrome1_is_inverted_for_display(chest_cr: bytes) -> None:
    ds = pydicom.dcmread(io.BytesIO(chest_cr))
    as_mono2 = copy.deepcopy(ds)
    as_mono2.PhotometricInterpretation = "MONOCHROME2"
    out = io.BytesIO()
    as_mono2.save_as(out)
    inverted, plain = image(summarize_study([chest_cr])), image(summarize_study([out.getvalue()]))
    assert inverted["display_mean"] == pytest.approx(1.0 - plain["display_mean"], abs=1e-9)


def test_jpeg2000_chest_cr_is_decoded_or_reported() -> None:
    data = require_data("cxr_dicom_samples", "RG1_J2KI.dcm").read_bytes()
    result = summarize_study([data])
    cr = image(result)
    assert cr["transfer_syntax_name"] == "JPEG 2000 Image Compression"
    if cr["decoded"]:
        assert 0.3 < cr["dynamic_range"] < 0.8
    else:
        assert "image-not-decoded" in codes(result) and cr["reason"]


def test_image_without_codec_is_reported_not_raised() -> None:
    from pydicom.pixels.decoders.base import get_decoder
    from pydicom.uid import JPEGLSLossless

    result = summarize_study([pydicom_file("MR_small_jpeg_ls_lossless.dcm"), pydicom_file("MR_small.dcm")])
    jls, plain = image(result, 0), image(result, 1)
    assert plain["decoded"] is True
    if get_decoder(JPEGLSLossless).is_available:
        assert jls["decoded"] is True
        return
    assert jls["decoded"] is False and "JPEG-LS" in jls["reason"]
    failed = next(f for f in result.findings if f.code == "image-not-decoded")
    assert failed.flagged and "image 0" in failed.evidence
    assert "1 幅图像无法解码" in result.preliminary_text


def modified_cr(chest_cr: bytes, change: str) -> bytes:
    """The real chest CR with its pixels squeezed (under-exposed look) or clipped (burned out)."""
    ds = pydicom.dcmread(io.BytesIO(chest_cr))
    pixels = ds.pixel_array.astype(np.int64)
    if change == "squeeze":
        pixels = 12000 + (pixels - pixels.min()) // 20
    else:
        pixels = np.where(pixels > np.percentile(pixels, 80), 2**15 - 1, pixels)
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    out = io.BytesIO()
    ds.save_as(out)
    return out.getvalue()


def test_low_dynamic_range_is_flagged(chest_cr: bytes) -> None:
    result = summarize_study([modified_cr(chest_cr, "squeeze")])
    finding = next(f for f in result.findings if f.code == "low-dynamic-range")
    assert finding.flagged and not finding.critical and finding.source == "criteria"
    assert "动态范围过低" in result.preliminary_text


def test_saturation_is_flagged(chest_cr: bytes) -> None:
    result = summarize_study([modified_cr(chest_cr, "clip")])
    assert image(result)["saturated_fraction"] == pytest.approx(0.2, abs=0.01)
    assert "high-saturation" in codes(result)


def test_exposure_rules_skip_ct() -> None:
    result = summarize_study([pydicom_file("CT_small.dcm")])
    assert image(result)["dynamic_range"] < 0.1  # 16-bit store, narrow HU spread: normal for CT
    assert "low-dynamic-range" not in codes(result)


def test_input_is_not_modified(chest_cr: bytes) -> None:
    instances = [pydicom_file("CT_small.dcm"), chest_cr]
    before = [bytes(item) for item in instances]
    summarize_study(instances)
    assert instances == before


def test_study_without_images() -> None:
    result = summarize_study([pydicom_file("test-SR.dcm")])
    assert codes(result) == ["no-image"] and result.measurements["images"] == []


@pytest.mark.parametrize(
    ("instances", "message"),
    [
        ([], "no instances"),
        ([b"not dicom"], "instance 0: not a DICOM"),
        ([b"\0" * 128 + b"DICM" + b"\xff" * 8], "instance 0"),
    ],
)
def test_bad_study_input(instances: list[bytes], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        summarize_study(instances)


# --- model device -------------------------------------------------------------------------------


@pytest.fixture
def fresh_device_cache() -> None:
    device_module._select_device.cache_clear()


def test_select_device_is_cached(fresh_device_cache: None) -> None:
    import torch

    device = models.select_device()
    assert device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert models.select_device() is device


def test_select_device_can_force_cpu(fresh_device_cache: None) -> None:
    assert models.select_device("cpu").type == "cpu"


def test_select_device_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="prefer must be"):
        models.select_device("tpu")


def test_select_device_refuses_missing_cuda(fresh_device_cache: None) -> None:
    import torch

    if torch.cuda.is_available():
        assert models.select_device("cuda").type == "cuda"
        return
    with pytest.raises(RuntimeError, match="0 CUDA device"):
        models.select_device("cuda")

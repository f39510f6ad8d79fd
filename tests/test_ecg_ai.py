"""The 12-lead ECG AI pre-read on real records: measurements, statements, critical alerts, model, eval."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import wfdb
from click.testing import CliRunner

from models import ecg_cnn, ecg_train
from pipelines import ecg_measure, ecg_preread, ecg_statements
from pipelines.ecg_preread import preread_12lead
from sharedcenter.auth import Principal
from sharedcenter.cli import _eval as eval_module
from sharedcenter.cli import cli
from sharedcenter.db.models import Study
from sharedcenter.ecg import EcgRecord, read_wfdb
from sharedcenter.services import Services
from sharedcenter.studies import UploadedFile, ingest_upload
from tests.data_paths import require_data, wfdb_files
from worker import _ecg
from worker._preread import run_preread

AF_CODES = {"atrial-fibrillation", "af-rapid"}


@pytest.fixture(scope="module")
def records() -> Path:
    return require_data("ecg12_cinc", "records")


def codes(record: EcgRecord, model: ecg_cnn.EcgClassifier | None = None) -> set[str]:
    return {f.code for f in preread_12lead(record, model).findings}


@pytest.mark.parametrize("module", [ecg_measure, ecg_statements, ecg_preread, ecg_cnn, ecg_train, eval_module, _ecg])
def test_all_names_exist(module: ModuleType) -> None:
    for name in module.__all__:
        assert hasattr(module, name), name


def test_real_af_record_is_called_af(records: Path) -> None:
    """A0003 (CPSC 2018, Dx AF): irregular RR, no P wave."""
    result = preread_12lead(read_wfdb(wfdb_files(records, "A0003")))
    [af] = [f for f in result.findings if f.code in AF_CODES]
    assert af.source == "criteria" and "164889003" in af.evidence and af.label_zh.startswith("心房颤动")
    assert result.preliminary_text.startswith("【AI 预阅") and "心房颤动" in result.preliminary_text
    assert result.preliminary_text_en.startswith("[AI preliminary read")
    json.dumps(result.to_json(), ensure_ascii=False, allow_nan=False)


def test_measurements_of_a_real_rbbb_record(records: Path) -> None:
    """A0001 (CPSC 2018, Dx RBBB): wide QRS, RBBB by criteria, plausible intervals and axes."""
    result = preread_12lead(read_wfdb(wfdb_files(records, "A0001")))
    v = result.measurements
    assert 120 <= v["qrs_ms"] <= 170 and 120 <= v["pr_ms"] <= 220 and 300 <= v["qt_ms"] <= 450
    assert v["qtc_bazett_ms"] > v["qtc_fridericia_ms"] > v["qt_ms"] - 1  # RR < 1 s
    assert 0 <= v["p_axis_deg"] <= 90 and v["heart_rate_bpm"] == pytest.approx(100, abs=3)
    assert set(v["st_mv"]) == set(v["leads"]) and v["sokolow_lyon_mv"] is not None
    assert "rbbb" in {f.code for f in result.findings}


def test_zeroed_lead_supports_no_statement(records: Path) -> None:
    record = read_wfdb(wfdb_files(records, "A0001"))
    signal = record.signal.copy()
    signal[:, record.leads.index("V1")] = 0.0
    result = preread_12lead(dataclasses.replace(record, signal=signal))
    v = result.measurements
    assert v["flat_leads"] == ["V1"] and v["st_mv"]["V1"] is None and v["r_mv"]["V1"] is None
    assert "rbbb" not in {f.code for f in result.findings}  # RBBB needs V1
    assert not any("V1 " in f.evidence for f in result.findings)
    assert "V1" in result.preliminary_text


def test_zeroed_rhythm_lead_moves_to_another(records: Path) -> None:
    record = read_wfdb(wfdb_files(records, "A0003"))
    signal = record.signal.copy()
    signal[:, record.leads.index("II")] = 0.0
    result = preread_12lead(dataclasses.replace(record, signal=signal))
    assert result.measurements["lead"] != "II" and result.measurements["p_amplitude_mv"] is not None


def test_all_flat_record_is_not_analysed() -> None:
    result = preread_12lead(EcgRecord(np.zeros((5000, 12), np.float32), 500.0, ecg_cnn.LEADS, "test"))
    assert [f.code for f in result.findings] == ["rate-not-measurable"] and not result.critical


@pytest.mark.parametrize(("values", "code"), [
    ({"heart_rate_bpm": 72, "rr_cv": 0.03, "pr_ms": 160, "qrs_ms": 90, "qt_ms": 480, "qtc_bazett_ms": 525,
      "qtc_fridericia_ms": 505}, "qtc-prolonged"),
    ({"heart_rate_bpm": 80, "qrs_ms": 90, "st_mv": {"II": 0.25, "III": 0.3, "aVF": 0.28}}, "possible-stemi"),
    ({"heart_rate_bpm": 95, "longest_wide_run": 5, "wide_run_rate_bpm": 160, "wide_run_qrs_ms": 170},
     "ventricular-tachycardia"),
    ({"heart_rate_bpm": 35, "heart_rate_check_bpm": 35, "rr_cv": 0.02, "atrial_rate_bpm": 75, "pp_cv": 0.03,
      "p_wave_count": 8, "p_to_r_sd_ms": 150, "p_to_r_range_ms": 500}, "complete-av-block"),
    ({"heart_rate_bpm": 170, "heart_rate_mean_bpm": 165, "rr_cv": 0.2, "rr_rmssd_ratio": 0.3,
      "p_amplitude_mv": 0.01}, "af-rapid"),
    ({"heart_rate_bpm": 140, "qrs_ms": 160, "p_amplitude_mv": 0.01}, "wide-qrs-tachycardia"),
    ({"heart_rate_bpm": 125, "qrs_ms": None, "beat_qrs_median_ms": 150, "wide_beat_share": 0.9,
      "pr_ms": 150, "pr_sd_ms": 90}, "wide-qrs-tachycardia"),
])  # fmt: skip
def test_critical_criteria(values: dict[str, object], code: str) -> None:
    base = {"rate_measurable": True, "heart_rate_mean_bpm": values["heart_rate_bpm"], "rr_cv": 0.03,
            "rr_rmssd_ratio": 0.02, "p_amplitude_mv": 0.15, "p_axis_deg": 50.0, "heart_rate_check_bpm": None}
    findings = ecg_statements.criteria_statements(base | values)
    [hit] = [f for f in findings if f.code == code]
    assert hit.critical and hit.flagged and hit.source == "criteria"


def test_wide_qrs_with_sinus_p_at_constant_pr_is_sinus_tachycardia_not_critical() -> None:
    values = {"rate_measurable": True, "heart_rate_bpm": 125, "heart_rate_mean_bpm": 125, "rr_cv": 0.02,
              "rr_rmssd_ratio": 0.02, "p_amplitude_mv": 0.15, "p_axis_deg": 50.0, "heart_rate_check_bpm": 124,
              "qrs_ms": 150, "pr_ms": 160, "pr_sd_ms": 15}
    findings = ecg_statements.criteria_statements(values)
    assert "sinus-tachycardia" in {f.code for f in findings} and not any(f.critical for f in findings)
    findings = ecg_statements.criteria_statements(values | {"heart_rate_check_bpm": 99, "pr_sd_ms": 60})
    assert not any(f.critical for f in findings)  # one detector at <= 100 bpm


def test_slow_regular_rhythm_with_varying_pr_alone_is_no_complete_heart_block() -> None:
    """The former rule (slow, regular, P present, PR SD > 80 ms) without P waves marching through."""
    values = {"rate_measurable": True, "heart_rate_bpm": 40, "heart_rate_mean_bpm": 40, "rr_cv": 0.02,
              "rr_rmssd_ratio": 0.02, "p_amplitude_mv": 0.15, "p_axis_deg": 50.0, "heart_rate_check_bpm": 40,
              "pr_sd_ms": 150, "atrial_rate_bpm": 40, "pp_cv": 0.02, "p_wave_count": 6, "p_to_r_sd_ms": 5,
              "p_to_r_range_ms": 10}
    assert "complete-av-block" not in {f.code for f in ecg_statements.criteria_statements(values)}


def _simulated_upload(tmp_path: Path, heart_rate: int) -> list[UploadedFile]:
    import neurokit2 as nk

    signal = nk.ecg_simulate(duration=10, sampling_rate=500, heart_rate=heart_rate, method="multileads",
                             random_state=3)
    wfdb.wrsamp("crit", fs=500, units=["mV"] * 12, sig_name=list(ecg_cnn.LEADS), p_signal=np.asarray(signal),
                fmt=["16"] * 12, write_dir=str(tmp_path))
    return [UploadedFile(p.name, p.read_bytes()) for p in (tmp_path / "crit.hea", tmp_path / "crit.dat")]


def test_critical_finding_raises_the_study_through_the_worker(
    services: Services, people: dict[str, Principal], tmp_path: Path
) -> None:
    with services.db.session() as session:
        [outcome] = ingest_upload(services, session, "c01-t01", _simulated_upload(tmp_path, 175))
        study_id = outcome.study.id
    assert run_preread(services, study_id) == "stored"
    with services.db.session() as session:
        study = session.get(Study, study_id)
        assert study is not None and study.critical and study.state == "preread"


def _random_weights(path: Path) -> Path:
    import torch

    torch.manual_seed(1)
    network = ecg_cnn.build_network()
    torch.save({"state_dict": network.state_dict(), "classes": list(ecg_cnn.CLASSES), "version": "test-1",
                "thresholds": {c: 0.5 for c in ecg_cnn.CLASSES}, "train_records": ["A0001"]}, path)
    return path


def test_model_loads_from_the_configured_path(services: Services, tmp_path: Path, records: Path) -> None:
    services.settings.ecg_model_path = _random_weights(tmp_path / "hospital.pt")
    model = _ecg.ecg_model(services.settings)
    assert model is not None and model.version == "test-1" and not model.network.training
    assert _ecg.ecg_model(services.settings) is model  # once per process
    result = preread_12lead(read_wfdb(wfdb_files(records, "A0003")), model)
    assert set(result.measurements["model_probabilities"]) == set(ecg_cnn.CLASSES)
    assert result.parameters["model"]["version"] == "test-1"
    assert all(f.source in {"criteria", "model"} for f in result.findings)


def test_weights_of_another_architecture_are_refused(tmp_path: Path) -> None:
    import torch

    torch.save({"state_dict": {"x": torch.zeros(1)}}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="does not hold weights"):
        ecg_cnn.load_classifier(tmp_path / "bad.pt")


def test_shipped_weights_are_small() -> None:
    assert ecg_cnn.DEFAULT_WEIGHTS.is_file() and ecg_cnn.DEFAULT_WEIGHTS.stat().st_size < 10_000_000


def test_eval_beats_on_one_mitdb_record(tmp_path: Path) -> None:
    mitdb = require_data("mitdb")
    for suffix in ("hea", "dat", "atr"):
        os.symlink(mitdb / f"100.{suffix}", tmp_path / f"100.{suffix}")
    out = CliRunner().invoke(cli, ["eval", "beats", str(tmp_path), "--json"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.output.strip().splitlines()[-1])
    assert summary["records"] == 1 and summary["sensitivity"] > 0.99 and summary["ppv"] > 0.99
    assert summary["per_record"][0]["record"] == "100"


def test_eval_ecg12_on_a_subset(tmp_path: Path) -> None:
    folder = require_data("ecg12_cinc")
    weights = _random_weights(tmp_path / "w.pt")
    out = CliRunner().invoke(cli, ["eval", "ecg12", str(folder), "--model", str(weights), "--limit", "4", "--json"])
    assert out.exit_code == 0, repr(out.exception)
    summary = json.loads(out.output.strip().splitlines()[-1])
    assert summary["n"] == 4 and summary["excluded_training_records"] == 1
    assert set(summary["classes"]) == set(eval_module.CPSC9_CODES)
    assert {"sensitivity", "specificity", "f1"} <= set(summary["classes"]["AF"]) and "macro_f1" in summary
    assert set(summary["other_statements"]) == {"AFL", "CHB"}
    assert summary["other_statements"]["CHB"]["fp"] == 0


def test_match_beats_is_one_to_one() -> None:
    assert eval_module.match_beats(np.array([100, 200, 300]), np.array([105, 110, 290, 500]), 20) == 2


@pytest.mark.parametrize(("values", "stemi"), [
    # inferior elevation with reciprocal depression in I and aVL: the classic acute pattern
    ({"qrs_ms": 90, "st_mv": {"II": 0.15, "III": 0.12, "aVF": 0.14, "I": -0.12, "aVL": -0.15}}, True),
    # the same elevation alone, below twice the limit: reported, not critical
    ({"qrs_ms": 90, "st_mv": {"II": 0.15, "III": 0.12, "aVF": 0.14}}, False),
    # wide QRS (repolarisation of a conduction delay) or QRS not measurable: reported, not critical
    ({"qrs_ms": 140, "st_mv": {"II": 0.3, "III": 0.3, "aVF": 0.3, "I": -0.2, "aVL": -0.2}}, False),
    ({"st_mv": {"II": 0.3, "III": 0.3, "aVF": 0.3, "I": -0.2, "aVL": -0.2}}, False),
])
def test_st_elevation_is_critical_only_in_an_acute_pattern(values: dict, stemi: bool) -> None:
    from pipelines.ecg_statements import _st

    codes = {f.code: f.critical for f in _st({"heart_rate_bpm": 75, **values}, lbbb=False)}
    assert "st-elevation" in codes and not codes["st-elevation"]
    assert codes.get("possible-stemi", False) is stemi


def test_model_statements_contradicted_by_a_measurement_are_dropped() -> None:
    """The model may add what the criteria missed, never what a measurement rules out by definition."""
    from pipelines.ecg_preread import combine

    probabilities = {"I-AVB": 0.9, "RBBB": 0.8, "PVC": 0.7}
    thresholds = dict.fromkeys(probabilities, 0.5)
    normal = {"pr_ms": 156, "qrs_ms": 90, "pvc_count": 1}
    codes = {f.code for f in combine([], probabilities, thresholds, False, normal)}
    assert codes == {"rbbb", "pvc"}  # QRS width is not trusted to veto a bundle branch block
    long_pr_wide_qrs = {"pr_ms": 240, "qrs_ms": 140, "pvc_count": 2}
    codes = {f.code for f in combine([], probabilities, thresholds, False, long_pr_wide_qrs)}
    assert codes == {"first-degree-av-block", "rbbb", "pvc"}
    no_premature_beat = {"pr_ms": 240, "qrs_ms": 140, "pvc_count": 0, "pac_count": 0}
    probabilities |= {"PAC": 0.9}
    codes = {f.code for f in combine([], probabilities, dict.fromkeys(probabilities, 0.5), False, no_premature_beat)}
    assert codes == {"first-degree-av-block", "rbbb"}  # PAC/PVC need a counted premature beat
    assert "pac" in {f.code for f in combine([], probabilities, dict.fromkeys(probabilities, 0.5), False,
                                             no_premature_beat | {"pac_count": 1})}


def test_a_class_with_threshold_one_is_never_added_by_the_model() -> None:
    from pipelines.ecg_preread import combine

    assert combine([], {"STE": 1.0, "RBBB": 0.9}, {"STE": 1.0, "RBBB": 0.5}, False, {})[0].code == "rbbb"
    assert len(combine([], {"STE": 1.0, "RBBB": 0.9}, {"STE": 1.0, "RBBB": 0.5}, False, {})) == 1


def test_thresholds_are_f1_optimal_and_untunable_classes_are_off() -> None:
    labels = np.zeros((6, len(ecg_cnn.CLASSES)), dtype=np.float32)
    labels[:2, 1] = 1.0  # AF: records 0 and 1
    probabilities = np.full((6, len(ecg_cnn.CLASSES)), 0.1)
    probabilities[:, 1] = [0.35, 0.30, 0.32, 0.05, 0.2, 0.1]  # a record without AF at 0.32
    probabilities[:, 2] = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]  # I-AVB on record 5 only: no skill
    labels[5, 2] = 1.0
    chosen = ecg_train.choose_thresholds(labels, probabilities)
    assert chosen["thresholds"]["AF"] == pytest.approx(0.30) and chosen["oof_f1"]["AF"] == pytest.approx(0.8)
    assert chosen["thresholds"]["STE"] == 1.0 and chosen["oof_f1"]["STE"] is None
    assert chosen["oof_f1"]["I-AVB"] == pytest.approx(chosen["all_positive_f1"]["I-AVB"])
    assert chosen["thresholds"]["I-AVB"] == 1.0
    assert chosen["positives"]["AF"] == 2 and chosen["positives"]["LBBB"] == 0
    assert {ecg_train.fold_of(f"R{i}", 3) for i in range(30)} == {0, 1, 2}


def test_thresholds_command_refuses_weights_without_training_records(tmp_path: Path) -> None:
    import torch

    weights = _random_weights(tmp_path / "w.pt")
    checkpoint = torch.load(weights, weights_only=True)
    checkpoint["train_records"] = []
    torch.save(checkpoint, weights)
    out = CliRunner().invoke(cli, ["models", "thresholds", "ecg", "--data", str(require_data("ecg12_cinc")),
                                   "--weights", str(weights)])
    assert out.exit_code == 2 and "train_records" in out.output


@pytest.mark.parametrize(("folds", "message"), [("1", "1 is not in the range x>=2"),
                                                ("3", "3 folds for 1 training records")])
def test_thresholds_command_refuses_impossible_folds_and_leaves_the_weights(tmp_path: Path, folds: str,
                                                                           message: str) -> None:
    import torch

    weights = _random_weights(tmp_path / "w.pt")
    checkpoint = torch.load(weights, weights_only=True)
    shipped = torch.load(ecg_cnn.DEFAULT_WEIGHTS, weights_only=True)
    checkpoint["train_records"] = shipped["train_records"][:1]  # one record of the training side
    torch.save(checkpoint, weights)
    before = weights.read_bytes()
    out = CliRunner().invoke(cli, ["models", "thresholds", "ecg", "--data", str(require_data("ecg12_cinc")),
                                   "--weights", str(weights), "--folds", folds])
    assert out.exit_code == 2 and message in out.output, out.output
    assert weights.read_bytes() == before and list(tmp_path.iterdir()) == [weights]


def test_shipped_weights_carry_out_of_fold_thresholds() -> None:
    checkpoint = __import__("torch").load(ecg_cnn.DEFAULT_WEIGHTS, weights_only=True)
    assert checkpoint["threshold_method"]["method"].startswith("F1-optimal on out-of-fold")
    model = ecg_cnn.load_classifier()
    assert model.thresholds == {c: pytest.approx(checkpoint["thresholds"][c]) for c in ecg_cnn.CLASSES}
    assert any(t != 0.5 for t in model.thresholds.values())

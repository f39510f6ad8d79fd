"""Atrial flutter and complete-heart-block safety: constructed rhythms with a known answer, real labelled records."""

from __future__ import annotations

import pytest

from pipelines import ecg_atrial
from pipelines.ecg_preread import preread_12lead
from sharedcenter.ecg import EcgRecord
from tests.utils.ecg_labelled import labelled_ecgs
from tests.utils.ecg_synthetic import atrial_flutter, complete_heart_block, second_degree_2to1, sinus_rhythm

#: Labelled records whose ventricular rate is under 50 bpm here (none is a complete heart block):
#: sinus bradycardia, bradycardia with RBBB or old MI.
SLOW_RECORDS = ("E07510", "HR06002", "JS22627", "HR00002", "E00018", "Q0077", "Q1240")


def test_all_names_exist() -> None:
    for name in ecg_atrial.__all__:
        assert hasattr(ecg_atrial, name), name


@pytest.mark.parametrize(("atrial", "ventricular", "seed"), [(78, 38, 0), (90, 42, 3), (70, 33, 5)])
def test_constructed_complete_heart_block_is_critical(atrial: float, ventricular: float, seed: int) -> None:
    result = preread_12lead(complete_heart_block(atrial, ventricular, seed=seed))
    [chb] = [f for f in result.findings if f.code == "complete-av-block"]
    assert chb.critical and result.critical and "27885002" in chb.evidence and "P waves" in chb.evidence
    v = result.measurements
    assert v["atrial_rate_bpm"] == pytest.approx(atrial, abs=3) and v["heart_rate_bpm"] == pytest.approx(
        ventricular, abs=2)
    assert "三度房室传导阻滞" in result.preliminary_text


@pytest.mark.parametrize("record", [sinus_rhythm(72), sinus_rhythm(45), second_degree_2to1(80),
                                    complete_heart_block(90, 45)],
                         ids=["sinus-72", "sinus-45", "2to1-block", "isorhythmic-2to1"])
def test_coupled_p_waves_are_no_complete_heart_block(record: EcgRecord) -> None:
    """Slow and regular is not enough: P waves conducted at a fixed PR (every one or every other) are no
    dissociation, nor is an exact 2:1 relation, which 10 s cannot tell from 2:1 conduction."""
    result = preread_12lead(record)
    assert "complete-av-block" not in {f.code for f in result.findings}
    assert result.measurements["heart_rate_bpm"] < 75  # the rate rule itself ran




def test_slow_real_records_are_no_complete_heart_block() -> None:
    slow = labelled_ecgs(SLOW_RECORDS)
    assert len(slow) == len(SLOW_RECORDS)
    for name, _, record in slow:
        result = preread_12lead(record)
        assert result.measurements["heart_rate_bpm"] < 50, name
        assert "complete-av-block" not in {f.code for f in result.findings}, name


def test_real_flutter_record_is_called_flutter() -> None:
    """Q0096 (CPSC-Extra, Dx atrial flutter only): flutter waves about 290/min, 4:1 at 72 bpm."""
    [(_, _, record)] = labelled_ecgs(("Q0096",))
    result = preread_12lead(record)
    [afl] = [f for f in result.findings if f.code == "atrial-flutter"]
    assert afl.source == "criteria" and "164890007" in afl.evidence and afl.label_zh == "心房扑动"
    assert 240 <= result.measurements["atrial_flutter_rate_per_min"] <= 340
    assert not {"sinus-rhythm", "normal-ecg"} & {f.code for f in result.findings}


def test_flutter_never_fires_on_sinus_rhythm() -> None:
    nsr = labelled_ecgs(dx="NSR")
    assert len(nsr) >= 30
    called = [name for name, _, record in nsr if "atrial-flutter" in {f.code for f in preread_12lead(record).findings}]
    assert called == []


def test_flutter_rule_needs_regular_or_fixed_ratio_response() -> None:
    from pipelines.ecg_statements import is_flutter

    base = {"heart_rate_bpm": 75.0, "rr_cv": 0.03, "rr_rmssd_ratio": 0.02, "p_amplitude_mv": 0.03,
            "p_axis_deg": -80.0, "flutter_leads": ["II", "III"], "atrial_flutter_rate_per_min": 300.0,
            "flutter_strong": False}
    assert is_flutter(base)
    assert not is_flutter(base | {"flutter_leads": []})
    assert not is_flutter(base | {"rr_cv": 0.2, "heart_rate_bpm": 110.0})  # irregular, 2.7:1
    assert not is_flutter(base | {"p_amplitude_mv": 0.15, "p_axis_deg": 60.0})  # an upright P wave: sinus
    assert is_flutter(base | {"p_amplitude_mv": 0.15, "p_axis_deg": 60.0, "flutter_strong": True})


@pytest.mark.parametrize(("atrial", "seed", "ratio"), [(300, 0, 4), (280, 2, 4), (300, 0, 3)])
def test_constructed_4to1_flutter_is_called_flutter(atrial: float, seed: int, ratio: int) -> None:
    """4:1 at 300 and 280/min; 3:1 since pre-read 0.5.0 (0.4.0's +/- 60 ms alignment put some beats on an F wave)."""
    result = preread_12lead(atrial_flutter(atrial, ratios=(ratio,), seed=seed))
    assert "atrial-flutter" in {f.code for f in result.findings}
    assert result.measurements["atrial_flutter_rate_per_min"] == pytest.approx(atrial, abs=6)


@pytest.mark.xfail(strict=True, reason="known misses (README): 2:1, flutter share 0.14-0.36 in the QRS-blanked "
                   "leads (each F wave shares the short cycle with a QRS or T wave); variable block, the T waves "
                   "at irregular times spread over the flutter band (share 0.28-0.48, found in one lead)")
@pytest.mark.parametrize("ratios", [(2,), (2, 4, 2, 3, 4, 2, 3)], ids=["2to1", "variable"])
def test_constructed_flutter_missed(ratios: tuple[int, ...]) -> None:
    assert "atrial-flutter" in {f.code for f in preread_12lead(atrial_flutter(ratios=ratios)).findings}

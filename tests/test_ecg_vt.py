"""Ventricular tachycardia rules (runs of wider beats; wide QRS tachycardia): constructed records with a known
answer, and the labelled records."""

from __future__ import annotations

import pytest

from pipelines.ecg_preread import preread_12lead
from sharedcenter.ecg import EcgRecord
from tests.utils.ecg_labelled import labelled_ecg
from tests.utils.ecg_synthetic import (
    sinus_rhythm,
    sinus_with_wide_qrs,
    ventricular_run,
    wide_complex_tachycardia,
)


@pytest.mark.parametrize(("run_bpm", "beats", "seed"), [(160, 5, 0), (120, 3, 1), (180, 8, 2)])
def test_constructed_vt_run_is_critical(run_bpm: float, beats: int, seed: int) -> None:
    result = preread_12lead(ventricular_run(run_bpm=run_bpm, beats=beats, seed=seed))
    [vt] = [f for f in result.findings if f.code == "ventricular-tachycardia"]
    assert vt.critical and result.critical and "164895002" in vt.evidence and "wide beats" in vt.evidence
    v = result.measurements
    assert v["longest_wide_run"] == beats and v["wide_run_rate_bpm"] == pytest.approx(run_bpm, abs=3)
    assert v["wide_run_qrs_ms"] >= 120 and v["heart_rate_bpm"] < 120  # the record's rate alone would not do


@pytest.mark.parametrize("record", [ventricular_run(run_bpm=160, beats=2), ventricular_run(run_bpm=95, beats=4),
                                    sinus_rhythm(72), sinus_rhythm(130)],
                         ids=["couplet", "slow-run", "sinus-72", "sinus-130"])
def test_no_vt_without_a_fast_run_of_three_wide_beats(record: EcgRecord) -> None:
    result = preread_12lead(record)
    assert "ventricular-tachycardia" not in {f.code for f in result.findings}
    assert not result.critical


def test_flutter_with_variable_block_is_no_vt() -> None:
    """JS17272 (atrial flutter, variable block, narrow QRS, 10 s at about 115 bpm): the detector marked
    R peaks up to 100 ms late, the +/- 60 ms QRS windows held ST segments, five beats looked ventricular
    and the record's rate (127 bpm) made them a critical VT call."""
    result = preread_12lead(labelled_ecg("JS17272"))
    assert "ventricular-tachycardia" not in {f.code for f in result.findings}
    assert not result.critical and result.measurements["longest_wide_run"] == 0


def test_labelled_vt_record_is_critical() -> None:
    """JS45548 (Chapman-Shaoxing, Dx paroxysmal VT: wide-complex tachycardia at 136 bpm throughout).

    A sustained VT has no narrower beats to stand out from; it is called here because 4 of its beats
    measure 40 ms wider than the rest (the wide-QRS tachycardia rule would call it too; the VT statement
    takes its place)."""
    result = preread_12lead(labelled_ecg("JS45548"))
    assert "ventricular-tachycardia" in {f.code for f in result.findings if f.critical}


@pytest.mark.parametrize(("bpm", "atrial_bpm", "seed"), [(150, 75, 0), (130, None, 1), (180, 90, 2)])
def test_constructed_wide_complex_tachycardia_is_critical(bpm: float, atrial_bpm: float | None, seed: int) -> None:
    """Every beat wide (sustained VT): no run of wider beats, so only the wide-QRS tachycardia rule calls it."""
    result = preread_12lead(wide_complex_tachycardia(bpm, atrial_bpm, seed=seed))
    [wct] = [f for f in result.findings if f.code == "wide-qrs-tachycardia"]
    assert wct.critical and result.critical and "possible ventricular tachycardia" in wct.label
    assert "可能室性心动过速" in wct.label_zh and "164895002" in wct.evidence
    assert f"rate {bpm:.0f} bpm" in wct.evidence and "regular (RR CV" in wct.evidence
    assert result.measurements["longest_wide_run"] == 0 and result.measurements["beat_qrs_median_ms"] >= 120
    assert "ventricular-tachycardia" not in {f.code for f in result.findings}
    assert "宽 QRS 波心动过速，可能室性心动过速（危急值）" in result.preliminary_text


def test_wide_complex_tachycardia_reports_av_dissociation() -> None:
    result = preread_12lead(wide_complex_tachycardia(150, 75))
    [wct] = [f for f in result.findings if f.code == "wide-qrs-tachycardia"]
    assert "AV dissociation: P waves at 75/min" in wct.evidence


@pytest.mark.parametrize("record", [wide_complex_tachycardia(95), sinus_with_wide_qrs(72),
                                    sinus_with_wide_qrs(110), sinus_with_wide_qrs(105, seed=3)],
                         ids=["wide-95", "sinus-wide-72", "sinus-wide-110", "sinus-wide-105"])
def test_no_wide_qrs_tachycardia_when_slow_or_sinus_conducted(record: EcgRecord) -> None:
    """At 100 bpm or under, or with a sinus P wave at a constant PR before each wide QRS (sinus tachycardia
    with a bundle branch block), no wide-QRS tachycardia and no critical call."""
    result = preread_12lead(record)
    assert "wide-qrs-tachycardia" not in {f.code for f in result.findings}
    assert not result.critical


def test_sinus_tachycardia_with_wide_qrs_is_sinus() -> None:
    result = preread_12lead(sinus_with_wide_qrs(110))
    assert "sinus-tachycardia" in {f.code for f in result.findings}
    assert result.measurements["beat_qrs_median_ms"] >= 120 and result.measurements["heart_rate_bpm"] > 100


def test_labelled_sinus_tachycardia_with_rbbb_is_not_critical() -> None:
    """A0001 (CPSC 2018, RBBB; sinus at 100.3 bpm, QRS 142 ms, PR 162 ms, PR SD 22 ms): without the sinus
    exception it would be called a wide-QRS tachycardia."""
    result = preread_12lead(labelled_ecg("A0001"))
    codes = {f.code for f in result.findings}
    assert {"sinus-tachycardia", "rbbb"} <= codes and "wide-qrs-tachycardia" not in codes
    assert not result.critical


@pytest.mark.parametrize("name", ["JS45545", "JS45550"])
def test_labelled_sustained_vt_is_wide_qrs_tachycardia(name: str) -> None:
    """JS45545 (paroxysmal VT, regular 186 bpm, QRS 142 ms, P waves at 77/min) and JS45550 (VT, 104 bpm,
    QRS 208 ms): pre-read 0.5.0 called no VT on either, and nothing critical on JS45550."""
    result = preread_12lead(labelled_ecg(name))
    [wct] = [f for f in result.findings if f.code == "wide-qrs-tachycardia"]
    assert wct.critical and result.critical

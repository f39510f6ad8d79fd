"""Ventricular tachycardia rule: wide-beat runs, constructed with a known answer, and the labelled records."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from models.ecg_cnn import FS, LEADS
from models.ecg_train import read_labelled
from pipelines.ecg_preread import preread_12lead
from sharedcenter.ecg import EcgRecord
from tests.data_paths import require_data
from tests.utils.ecg_synthetic import sinus_rhythm, ventricular_run


def _labelled(name: str) -> EcgRecord:
    folder = require_data("ecg12_cinc")
    with (folder / "labels.csv").open(newline="") as handle:
        [row] = [r for r in csv.DictReader(handle) if r["record"] == name]
    return EcgRecord(np.ascontiguousarray(read_labelled(folder, row).T), FS, LEADS, "labelled")


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
    result = preread_12lead(_labelled("JS17272"))
    assert "ventricular-tachycardia" not in {f.code for f in result.findings}
    assert not result.critical and result.measurements["longest_wide_run"] == 0


def test_labelled_vt_record_is_critical() -> None:
    """JS45548 (Chapman-Shaoxing, Dx paroxysmal VT: wide-complex tachycardia at 136 bpm throughout).

    A sustained VT has no narrower beats to stand out from; it is called here because 4 of its beats
    measure 40 ms wider than the rest.  The other 7 labelled VT records are not called VT (5 get
    another critical call: rate > 150 bpm or AF > 150 bpm)."""
    result = preread_12lead(_labelled("JS45548"))
    assert "ventricular-tachycardia" in {f.code for f in result.findings if f.critical}

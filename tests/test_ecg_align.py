"""R-peak alignment of the ECG measurements: marks the detector puts late, early or between beats."""

from __future__ import annotations

import numpy as np

from pipelines.ecg_measure import align_peaks, band_pass, measure_ecg
from pipelines.ecg_preread import preread_12lead
from tests.utils.ecg_labelled import labelled_ecg
from tests.utils.ecg_synthetic import sinus_rhythm


def test_marks_90_ms_late_or_100_ms_early_move_onto_the_r_wave_and_a_mark_between_beats_is_dropped() -> None:
    record = sinus_rhythm(72.0)
    fs = record.fs
    r_peaks = np.round(np.arange(0.3, 9.8, 60.0 / 72.0) * fs).astype(np.int64)[1:-1]
    shifts = np.where(np.arange(r_peaks.size) % 2 == 0, int(0.09 * fs), -int(0.10 * fs))
    marks = np.sort(np.concatenate([r_peaks + shifts, [r_peaks[3] + int(0.45 * fs)]]))
    filtered = band_pass(record.signal, fs)
    aligned = align_peaks(filtered, list(range(len(record.leads))), record.leads.index("II"), marks, fs)
    assert aligned.size == r_peaks.size, "the mark between beats 3 and 4 must be dropped"
    assert np.abs(aligned - r_peaks).max() <= int(0.004 * fs)


def test_detector_marks_between_beats_make_no_ventricular_beats_on_a_real_record() -> None:
    """JS30970 (Chapman-Shaoxing, sinus bradycardia 59 bpm): Pan-Tompkins marks 100-450 ms before the
    QRS and twice within some RR intervals; pre-read 0.4.0 labelled 2 of those marks PVCs (and 1 a PAC)
    and read the P wave as 1.06 mV."""
    values = measure_ecg(labelled_ecg("JS30970")).values
    assert values["pvc_count"] == 0 and values["pac_count"] == 0
    assert values["beats_analysed"] == values["dominant_beats"]
    assert values["p_amplitude_mv"] < 0.3


def test_tall_p_wave_is_no_qrs_onset_and_no_flutter() -> None:
    """JS38062 (Chapman-Shaoxing, sinus rhythm with the tall P waves of right atrial enlargement, P ending
    about 80 ms before R): with the beats aligned, the global QRS onset fell on the P wave (QRS 142 ms, P
    axis -101 degrees), the sinus-P veto missed and the P waves passed for flutter waves."""
    result = preread_12lead(labelled_ecg("JS38062"))
    codes = {f.code for f in result.findings}
    assert "atrial-flutter" not in codes and "sinus-rhythm" in codes
    assert result.measurements["qrs_ms"] < 120


def test_qt_ending_on_a_late_upright_lobe_is_not_called_prolonged_but_a_labelled_long_qt_is() -> None:
    """Q1240 (CPSC-Extra, sinus bradycardia 49 bpm, inverted T waves, no long-QT label): read by hand on
    the median beats the inverted T in V3/V4 ends about 430 ms after R (QT about 470 ms, QTc about 425 ms);
    the DWT delineation ends the T wave on the upright wave at 490 ms (QT 531 ms, QTc 481 ms).  E07533
    (Georgia, labelled prolonged QT) stays called."""
    values = measure_ecg(labelled_ecg("Q1240")).values
    assert values["qtc_bazett_ms"] > 460 and 400 <= values["qtc_tangent_ms"] <= 450
    assert "qtc-prolonged" not in {f.code for f in preread_12lead(labelled_ecg("Q1240")).findings}
    assert "qtc-prolonged" in {f.code for f in preread_12lead(labelled_ecg("E07533")).findings}

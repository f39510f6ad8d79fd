"""12-lead ECG measurements: intervals, axes, ST levels, voltages and ectopic beats.

Pre-process (flat leads, zero-phase band-pass of every lead), predict (R peaks on one lead by
:mod:`pipelines.ecg_rate`, neurokit2 DWT delineation of that one lead, beat labelling and median
beats of the dominant beats) and post-process (the numbers) are separate functions.

The standard ways are followed where there is one:

* intervals (P duration, PR, QRS, QT) are the medians over the dominant beats of neurokit2's
  wavelet delineation (Martinez et al. 2004) of the rhythm lead; the delineation runs once, on one
  lead, never 12 full ``ecg_process`` calls;
* QTc by Bazett (QT / sqrt(RR)) and Fridericia (QT / RR^(1/3)), RR of the dominant beats in seconds;
* amplitudes, ST level (J + 60 ms) and axes are read on per-lead median beats of the dominant beats,
  against the isoelectric level just before QRS onset (PR segment);
* the frontal axes come from the net areas of the wave in leads I and aVF (atan2);
* the band-pass is zero-phase 0.67-40 Hz, the low edge allowed for ST measurement when the filter is
  bidirectional (AHA/ACCF/HRS 2007 recommendations on ECG standardization, part I).

A lead that is flat (zeroed, lead off) gets no numbers: its entries are ``None`` and it is listed in
``flat_leads``, so no statement can rest on it.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from scipy.signal import butter, sosfiltfilt

from pipelines.ecg_atrial import analyse_atrial_activity
from pipelines.ecg_rate import FLAT_MV, RateMeasurement, choose_lead, measure_best_lead

if TYPE_CHECKING:
    from sharedcenter.ecg.record import EcgRecord

__all__ = [
    "BAND_HZ",
    "PREMATURE_RATIO",
    "ST_OFFSET_S",
    "WIDE_QRS_S",
    "BeatLabels",
    "EcgMeasurements",
    "band_pass",
    "flat_leads",
    "measure_ecg",
]

logger = logging.getLogger(__name__)

#: Zero-phase band-pass applied to every lead before any measurement.
BAND_HZ = (0.67, 40.0)
#: A beat whose preceding RR is below this share of the local median RR is premature.
PREMATURE_RATIO = 0.80
#: ST level is read this long after the J point.
ST_OFFSET_S = 0.06
#: Correlation with the dominant QRS below which a beat has another (ventricular) morphology.
_MORPHOLOGY_CORR = 0.70
#: Share of the peak spatial velocity (above its floor) that bounds the global QRS.
_QRS_VELOCITY = 0.08
#: A beat this wide (s) or more, and :data:`_WIDER_S` wider than the lower quartile of the beats, is a wide
#: (ventricular) beat; the VT rule reads runs of them (:func:`_wide_run_values`).
WIDE_QRS_S = 0.12
_WIDER_S = 0.04
#: Share of one beat's peak spatial velocity (above its floor) that bounds its QRS (see :func:`_beat_qrs_s`).
_BEAT_QRS_VELOCITY = 0.15
#: Median beat window around the R peak (s).
_WINDOW_S = (0.40, 0.60)
#: Where the QRS is sought around the detector's mark (s before, s after), and the R wave around the QRS (s).
_ALIGN_S = (0.15, 0.15)
_R_NEAR_S = 0.05
#: A mark whose steepest point has under this share of the marks' median spatial velocity is no QRS.
_QRS_SLOPE_SHARE = 0.3
#: Plausible ranges (s); a delineated interval outside them is not reported.
_RANGES_S = {"p_duration": (0.04, 0.20), "pr": (0.08, 0.40), "qrs": (0.04, 0.22), "qt": (0.20, 0.70)}


@dataclasses.dataclass(frozen=True, slots=True)
class BeatLabels:
    """Per-beat labels: dominant (normal morphology, not premature), premature supraventricular, ventricular."""

    dominant: npt.NDArray[np.bool_]
    supraventricular: npt.NDArray[np.bool_]
    ventricular: npt.NDArray[np.bool_]

    @property
    def longest_ventricular_run(self) -> int:
        """Most consecutive ventricular beats."""
        start, stop = _longest_run(self.ventricular)
        return stop - start


@dataclasses.dataclass(frozen=True, slots=True)
class EcgMeasurements:
    """Everything measured on one recording; ``values`` is the JSON form the statements read."""

    rate: RateMeasurement
    values: dict[str, Any]
    median_beats: npt.NDArray[np.float64] | None = None
    leads: tuple[str, ...] = ()


def band_pass(signal: npt.NDArray[np.floating[Any]], fs: float) -> npt.NDArray[np.float64]:
    """Zero-phase :data:`BAND_HZ` band-pass of ``signal`` (samples on axis 0)."""
    high = min(BAND_HZ[1], 0.45 * fs)
    sos = butter(2, [BAND_HZ[0], high], btype="bandpass", fs=fs, output="sos")
    return np.asarray(sosfiltfilt(sos, signal.astype(np.float64), axis=0), dtype=np.float64)


def flat_leads(record: EcgRecord) -> list[str]:
    """Leads whose 1st-99th percentile spread is under ``FLAT_MV`` (zeroed or lead off)."""
    low, high = np.percentile(record.signal, [1, 99], axis=0)
    return [name for name, spread in zip(record.leads, high - low, strict=True) if spread < FLAT_MV]


def measure_ecg(record: EcgRecord) -> EcgMeasurements:
    """Measure a (12-lead) ECG.

    Parameters
    ----------
    record
        The canonical record (millivolts, standard lead names).

    Returns
    -------
    EcgMeasurements
        ``values`` holds the rate figures of :mod:`pipelines.ecg_rate` (``heart_rate_bpm``,
        ``rr_cv`` ...) and, when the rate was measurable: ``p_duration_ms``, ``pr_ms``, ``qrs_ms``,
        ``qt_ms``, ``qtc_bazett_ms``, ``qtc_fridericia_ms``, ``p_axis_deg``, ``qrs_axis_deg``,
        ``t_axis_deg``, ``st_mv`` / ``r_mv`` / ``s_mv`` (per lead), ``sokolow_lyon_mv``,
        ``cornell_mv``, ``p_amplitude_mv``, beat counts, the longest run of wide beats
        (``longest_wide_run``, ``wide_run_rate_bpm``, ``wide_run_qrs_ms``) and ``flat_leads``.
        Unmeasurable values are ``None``.

        .. versionchanged:: 0.4.0
           ``longest_wide_run``, ``wide_run_rate_bpm`` and ``wide_run_qrs_ms`` added.

        .. versionchanged:: 0.5.0
           ``qtc_tangent_ms`` added: QTc (Bazett) with the tangent-method T end of the median beats, which
           the QTc statement uses to check the delineated one.

        .. versionchanged:: 0.6.0
           ``beat_qrs_median_ms`` (median of the beats' own QRS widths) and ``wide_beat_share`` (share
           of beats >= 120 ms) added, for the wide-QRS tachycardia rule.
    """
    flat = flat_leads(record)
    rate = measure_best_lead(record, choose_lead(record))
    values = _rate_values(rate) | {"flat_leads": flat, "leads": list(record.leads)}
    if not rate.measurable:
        return EcgMeasurements(rate, values, leads=record.leads)
    filtered = band_pass(record.signal, record.fs)
    lead_index = record.leads.index(rate.lead)
    usable = [i for i, name in enumerate(record.leads) if name not in flat]
    peaks = _usable_peaks(align_peaks(filtered, usable, lead_index, rate.r_peaks, record.fs), record.fs,
                          record.n_samples)
    if peaks.size < 2:
        return EcgMeasurements(rate, values, leads=record.leads)
    labels = label_beats(filtered[:, lead_index], peaks, record.fs)
    intervals = _delineated_intervals(filtered[:, lead_index], peaks, labels.dominant, record.fs)
    medians = _median_beats(filtered, peaks[labels.dominant] if labels.dominant.sum() >= 1 else peaks, record.fs)
    intervals |= _global_qrs(medians, record.leads, set(flat), record.fs)
    rr_s = float(np.median(np.diff(peaks))) / record.fs
    intervals["t_off_tangent"] = _tangent_t_end(medians, usable, intervals, rr_s, record.fs)
    values |= _beat_values(labels, peaks, record.fs) | _interval_values(intervals, peaks, labels, record.fs)
    values |= _wide_run_values(filtered, usable, peaks, record.fs)
    values |= _median_values(medians, record.leads, set(flat), intervals, record.fs)
    values |= analyse_atrial_activity(filtered, record.leads, set(flat), peaks, labels.dominant, record.fs).values
    return EcgMeasurements(rate, values, medians, record.leads)


def _rate_values(rate: RateMeasurement) -> dict[str, Any]:
    """Rate figures as the rate pre-read reports them."""
    values: dict[str, Any] = {"lead": rate.lead, "fs_hz": rate.fs, "duration_s": round(rate.duration_s, 3),
                              "beat_count": int(rate.r_peaks.size), "rate_measurable": rate.measurable}
    if not rate.measurable:
        return values | {"reason": rate.reason, "reason_zh": rate.reason_zh}
    rr = rate.rr_s
    check = rate.check_rate_bpm
    heart_rate = 60.0 / float(np.median(rr))
    return values | {
        "heart_rate_bpm": round(heart_rate, 1),
        "heart_rate_mean_bpm": round(60.0 / float(np.mean(rr)), 1),
        "heart_rate_check_bpm": None if check is None else round(check, 1),
        "detectors_agree": check is not None and abs(check - heart_rate) <= 0.10 * heart_rate,
        "rr_count": int(rr.size),
        "rr_median_s": round(float(np.median(rr)), 4),
        "rr_cv": round(float(np.std(rr) / np.mean(rr)), 4),
        "rr_rmssd_ratio": round(float(np.sqrt(np.mean(np.diff(rr) ** 2)) / np.mean(rr)), 4) if rr.size > 2 else 0.0,
    }


def align_peaks(filtered: npt.NDArray[np.float64], usable: list[int], lead_index: int,
                peaks: npt.NDArray[np.int64], fs: float) -> npt.NDArray[np.int64]:
    """Move each detected R peak onto the R wave of the rhythm lead ``lead_index``.

    The QRS is found first on all ``usable`` leads together: the peak of their spatial velocity (sum of
    absolute slopes, 10 ms mean) within :data:`_ALIGN_S` of the detector's mark and no further than
    half-way to the previous or next mark; T, P and flutter waves are slow on every lead, the QRS steep
    on most.  A mark with no steep point there (under :data:`_QRS_SLOPE_SHARE` of the median over the
    marks: a detection on a P or T wave or between beats) is dropped.  The R wave is then the largest
    deflection of the record's dominant polarity within :data:`_R_NEAR_S` of that point.

    Pan-Tompkins marks a point of its integrated signal, usually 20-60 ms after the R wave, up to 100 ms
    behind a wide or slurred QRS, on some records 100 ms before it (on the P wave) and now and then on a
    T wave: a search of +/- 60 ms around the mark (pre-read 0.4.0) then held only the ST or PR segment,
    and those beats looked ventricular, their median beats and intervals shifted.
    """
    signal = filtered[:, lead_index]
    back, ahead, near = int(_ALIGN_S[0] * fs), int(_ALIGN_S[1] * fs), int(_R_NEAR_S * fs)
    inner = peaks[(peaks >= back + near) & (peaks + ahead + near < signal.size)]
    if inner.size == 0:
        return peaks
    velocity = _spatial_velocity(filtered[:, usable or [lead_index]], fs)
    middles = (inner[:-1] + inner[1:]) // 2
    starts = np.maximum(inner - back, np.concatenate([[0], middles]))
    stops = np.minimum(inner + ahead, np.concatenate([middles, [signal.size]]))
    qrs = np.array([a + int(np.argmax(velocity[a:b])) for a, b in zip(starts, stops, strict=True)])
    qrs = qrs[velocity[qrs] >= _QRS_SLOPE_SHARE * float(np.median(velocity[qrs]))]
    windows = np.stack([signal[c - near : c + near] for c in qrs])
    polarity = 1.0 if np.median(windows.max(axis=1)) >= np.median(-windows.min(axis=1)) else -1.0
    moved = qrs - near + np.argmax(polarity * windows, axis=1)
    return np.unique(moved.astype(np.int64))


def _spatial_velocity(leads: npt.NDArray[np.float64], fs: float) -> npt.NDArray[np.float64]:
    """Sum over the leads of the absolute first difference, 10 ms moving mean; same length as ``leads``."""
    return _mean_10ms(np.abs(np.diff(leads, axis=0, prepend=leads[:1])).sum(axis=1), fs)


def _mean_10ms(values: npt.NDArray[np.float64], fs: float) -> npt.NDArray[np.float64]:
    """10 ms moving mean, same length."""
    k = max(1, int(0.01 * fs))
    return np.convolve(values, np.ones(k) / k, mode="same")


def _bridged_span(above: npt.NDArray[np.bool_], top: int, gap: int) -> tuple[int, int]:
    """``(left, right)``: the run of ``above`` around ``top``, bridging dips of up to ``gap`` samples (the
    spatial velocity dips to zero at each peak of a QRS; a PR or ST segment is longer)."""
    left, right = top, top
    while left > 0 and above[max(0, left - gap) : left].any():
        left -= 1
    while right < above.size - 1 and above[right + 1 : right + 1 + gap].any():
        right += 1
    return left, right


def _global_qrs(medians: npt.NDArray[np.float64], leads: tuple[str, ...], flat: set[str],
                fs: float) -> dict[str, float | None]:
    """Global QRS onset and offset (s from R) where the spatial velocity of all usable leads' median
    beats exceeds :data:`_QRS_VELOCITY` of its peak around R (the multi-lead way of 12-lead programs): the onset
    where the span around the peak starts (dips up to 20 ms bridged), so a tall P wave ending 80 ms before R
    (JS38062) is not taken for it; the offset where the velocity last exceeds it (an RBBB's late R' counts).

    .. versionchanged:: 0.5.0
       The onset was the first sample above the threshold anywhere from R - 120 ms.
    """
    usable = [i for i, name in enumerate(leads) if name not in flat]
    if not usable:
        return {}
    velocity = np.abs(np.diff(medians[:, usable], axis=0)).sum(axis=1)
    r_at = int(_WINDOW_S[0] * fs)
    start, stop = r_at - int(0.12 * fs), r_at + int(0.16 * fs)
    segment = velocity[start:stop]
    floor = float(np.percentile(velocity, 20))
    above = segment > floor + _QRS_VELOCITY * (segment.max() - floor)
    left, _ = _bridged_span(above, int(np.argmax(segment)), int(0.02 * fs))
    return {"qrs_on": (start + left - r_at) / fs, "qrs_off": (start + np.flatnonzero(above)[-1] + 1 - r_at) / fs}


def _usable_peaks(peaks: npt.NDArray[np.int64], fs: float, n_samples: int) -> npt.NDArray[np.int64]:
    """R peaks whose median-beat window fits in the recording."""
    before, after = int(_WINDOW_S[0] * fs), int(_WINDOW_S[1] * fs)
    return peaks[(peaks >= before) & (peaks + after < n_samples)]


def label_beats(signal: npt.NDArray[np.float64], peaks: npt.NDArray[np.int64], fs: float) -> BeatLabels:
    """Label each beat: premature by RR, ventricular by QRS morphology (correlation with the dominant QRS).

    A beat is ventricular when its QRS (R +/- 60 ms) correlates under 0.8 with the median QRS and it
    is premature or wider; supraventricular when premature with a normal QRS.
    """
    half = int(0.06 * fs)
    windows = np.stack([signal[p - half : p + half] for p in peaks])
    template = np.median(windows, axis=0)
    corr = np.array([_corr(w, template) for w in windows])
    rr = np.diff(peaks) / fs
    local = np.array([np.median(rr[max(0, i - 4) : i + 5]) for i in range(rr.size)])
    premature = np.concatenate([[False], rr < PREMATURE_RATIO * local])
    odd = corr < _MORPHOLOGY_CORR
    ventricular = odd & premature
    for i in range(1, ventricular.size):  # the beats of a ventricular run after the first
        ventricular[i] = ventricular[i] or (odd[i] and ventricular[i - 1])
    supraventricular = premature & ~odd
    dominant = ~premature & ~odd
    return BeatLabels(dominant, supraventricular, ventricular)


def _corr(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    a, b = a - a.mean(), b - b.mean()
    denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denominator) if denominator > 0 else 0.0


def _delineated_intervals(
    signal: npt.NDArray[np.float64], peaks: npt.NDArray[np.int64], dominant: npt.NDArray[np.bool_], fs: float
) -> dict[str, float | None]:
    """Median fiducial offsets (s, relative to R) of the dominant beats by neurokit2's DWT delineation."""
    import neurokit2 as nk

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            _, waves = nk.ecg_delineate(signal, peaks, sampling_rate=int(round(fs)), method="dwt")
        except (ValueError, IndexError, ZeroDivisionError) as exc:
            logger.warning("ECG delineation failed: %s", exc)
            return {}
    keys = {"p_on": "ECG_P_Onsets", "p_off": "ECG_P_Offsets", "qrs_on": "ECG_R_Onsets",
            "qrs_off": "ECG_R_Offsets", "t_off": "ECG_T_Offsets"}
    use = dominant if dominant.sum() >= 1 else np.ones_like(dominant)
    out: dict[str, float | None] = {}
    for name, key in keys.items():
        marks = np.asarray(waves.get(key, []), dtype=np.float64)
        if marks.size != peaks.size:
            out[name] = None
            continue
        offsets = (marks - peaks)[use] / fs
        out[name] = float(np.nanmedian(offsets)) if np.isfinite(offsets).any() else None
    out["pr_sd"] = _pr_spread(waves, peaks, fs)
    return out


def _pr_spread(waves: dict[str, Any], peaks: npt.NDArray[np.int64], fs: float) -> float | None:
    """Beat-to-beat standard deviation of P onset to R (s): large when P and QRS are dissociated."""
    marks = np.asarray(waves.get("ECG_P_Onsets", []), dtype=np.float64)
    if marks.size != peaks.size:
        return None
    pr = (peaks - marks) / fs
    pr = pr[np.isfinite(pr)]
    return float(np.std(pr)) if pr.size >= 3 else None


def _median_beats(
    filtered: npt.NDArray[np.float64], peaks: npt.NDArray[np.int64], fs: float
) -> npt.NDArray[np.float64]:
    """Median beat of every lead, shape ``(window, n_leads)``, R at sample ``_WINDOW_S[0] * fs``."""
    before, after = int(_WINDOW_S[0] * fs), int(_WINDOW_S[1] * fs)
    stack = np.stack([filtered[p - before : p + after] for p in peaks])
    return np.asarray(np.median(stack, axis=0), dtype=np.float64)


def _beat_values(labels: BeatLabels, peaks: npt.NDArray[np.int64], fs: float) -> dict[str, Any]:
    return {
        "beats_analysed": int(peaks.size),
        "dominant_beats": int(labels.dominant.sum()),
        "pac_count": int(labels.supraventricular.sum()),
        "pvc_count": int(labels.ventricular.sum()),
        "longest_pvc_run": labels.longest_ventricular_run,
    }


def _wide_run_values(filtered: npt.NDArray[np.float64], usable: list[int], peaks: npt.NDArray[np.int64],
                     fs: float) -> dict[str, Any]:
    """The longest run of consecutive wide beats, its rate and QRS width; each beat's width by :func:`_beat_qrs_s`.

    A beat is wide when its QRS is >= :data:`WIDE_QRS_S` and at least :data:`_WIDER_S` wider than the
    lower quartile of the beats' widths: a ventricular beat among narrower ones.  The rate comes from the
    run's own RR intervals (not the coupling interval before it).  A rhythm whose every beat is wide
    (bundle branch block, sustained VT) has no such run; for it the median beat width
    (``beat_qrs_median_ms``) and the share of beats >= :data:`WIDE_QRS_S` (``wide_beat_share``) are
    reported, which the wide-QRS tachycardia rule reads.
    """
    empty: dict[str, Any] = {"longest_wide_run": 0, "wide_run_rate_bpm": None, "wide_run_qrs_ms": None,
                             "beat_qrs_median_ms": None, "wide_beat_share": None}
    if not usable or not peaks.size:
        return empty
    widths = np.array([_beat_qrs_s(filtered[:, usable], int(p), fs) for p in peaks])
    every = {"beat_qrs_median_ms": _ms(float(np.median(widths))),
             "wide_beat_share": round(float(np.mean(widths >= WIDE_QRS_S)), 2)}
    wide = widths >= max(WIDE_QRS_S, float(np.percentile(widths, 25)) + _WIDER_S)
    start, stop = _longest_run(wide)
    if stop == start:
        return empty | every
    rr = np.diff(peaks[start:stop]) / fs
    return every | {"longest_wide_run": stop - start,
            "wide_run_rate_bpm": round(60.0 / float(np.mean(rr)), 1) if rr.size else None,
            "wide_run_qrs_ms": _ms(float(np.median(widths[start:stop])))}


def _longest_run(flags: npt.NDArray[np.bool_]) -> tuple[int, int]:
    """Indices ``[start, stop)`` of the first longest run of true flags (``(0, 0)`` when none)."""
    best, start = (0, 0), 0
    for i, flag in enumerate(flags):
        if not flag:
            start = i + 1
        elif i + 1 - start > best[1] - best[0]:
            best = (start, i + 1)
    return best


def _beat_qrs_s(filtered: npt.NDArray[np.float64], peak: int, fs: float) -> float:
    """QRS width (s) of one beat: the span around its steepest point, within R - 150 ms .. R + 160 ms
    (the detector's mark can lag the QRS by 100 ms), where the spatial velocity of all leads (10 ms
    mean) exceeds :data:`_BEAT_QRS_VELOCITY` of its peak above the window's floor.

    A narrow QRS, or a T or flutter wave that a lagging mark pointed at (the QRS lies before it),
    gives a short span; a ventricular beat's slow, wide QRS a long one.
    """
    a, b = max(1, peak - int(0.15 * fs)), min(filtered.shape[0], peak + int(0.16 * fs))
    velocity = _mean_10ms(np.abs(np.diff(filtered[a - 1 : b], axis=0)).sum(axis=1), fs)
    floor = float(np.percentile(velocity, 10))
    above = velocity > floor + _BEAT_QRS_VELOCITY * (velocity.max() - floor)
    left, right = _bridged_span(above, int(np.argmax(velocity)), int(0.02 * fs))
    return (right - left + 1) / fs


def _tangent_t_end(medians: npt.NDArray[np.float64], usable: list[int], marks: dict[str, float | None],
                   rr_s: float, fs: float) -> float | None:
    """T-wave end (s from R) by the tangent method on the median beats: in each lead whose T wave (largest
    deflection from QRS offset + 80 ms to 0.7 RR, at most R + 580 ms) is at least half the largest, where the
    tangent at the steepest point of the T wave's descending limb meets the baseline; the median over those
    leads.  Only checks the DWT delineation's QT (``qtc_tangent_ms``)."""
    r_at, qrs_on, qrs_off = int(_WINDOW_S[0] * fs), marks.get("qrs_on"), marks.get("qrs_off")
    if qrs_on is None or qrs_off is None or not usable:
        return None
    onset = r_at + int(qrs_on * fs)
    baseline = medians[max(0, onset - int(0.03 * fs)) : max(1, onset - int(0.01 * fs)), usable].mean(axis=0)
    beat = medians[:, usable] - baseline
    start = r_at + int(qrs_off * fs) + int(0.08 * fs)
    stop = min(beat.shape[0] - 1, r_at + int(min(0.7 * rr_s, 0.58) * fs))
    if stop - start < int(0.05 * fs):
        return None
    peaks = start + np.argmax(np.abs(beat[start:stop]), axis=0)
    heights = np.abs(beat[peaks, np.arange(len(usable))])
    ends = []
    for i in np.flatnonzero(heights >= 0.5 * heights.max()):
        limb = beat[peaks[i] : peaks[i] + int(0.2 * fs), i]
        slope = np.gradient(limb)
        j = int(np.argmin(slope) if limb[0] > 0 else np.argmax(slope))
        if limb.size > 4 and slope[j] != 0:
            ends.append(peaks[i] + j - limb[j] / slope[j])
    return (float(np.median(ends)) - r_at) / fs if ends else None


def _interval_values(
    marks: dict[str, float | None], peaks: npt.NDArray[np.int64], labels: BeatLabels, fs: float
) -> dict[str, Any]:
    """P duration, PR, QRS, QT (ms) and QTc by Bazett and Fridericia."""
    def span(start: str, end: str, name: str) -> float | None:
        a, b = marks.get(start), marks.get(end)
        if a is None or b is None:
            return None
        low, high = _RANGES_S[name]
        return b - a if low <= b - a <= high else None

    rr = np.diff(peaks) / fs
    dominant_rr = rr[labels.dominant[1:]] if labels.dominant[1:].any() else rr
    rr_s = float(np.median(dominant_rr))
    qt, qt_tangent = span("qrs_on", "t_off", "qt"), span("qrs_on", "t_off_tangent", "qt")
    spread = marks.get("pr_sd")
    return {
        "p_duration_ms": _ms(span("p_on", "p_off", "p_duration")),
        "pr_ms": _ms(span("p_on", "qrs_on", "pr")),
        "qrs_ms": _ms(span("qrs_on", "qrs_off", "qrs")),
        "qt_ms": _ms(qt),
        "qtc_bazett_ms": _ms(None if qt is None else qt / np.sqrt(rr_s)),
        "qtc_fridericia_ms": _ms(None if qt is None else qt / rr_s ** (1 / 3)),
        "qtc_tangent_ms": _ms(None if qt_tangent is None else qt_tangent / np.sqrt(rr_s)),
        "pr_sd_ms": _ms(spread),
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(1000.0 * float(seconds), 1)


def _median_values(
    medians: npt.NDArray[np.float64], leads: tuple[str, ...], flat: set[str],
    marks: dict[str, float | None], fs: float,
) -> dict[str, Any]:
    """Per-lead ST, R, S and the P/QRS/T axes, read on the median beats."""
    r_at = int(_WINDOW_S[0] * fs)
    qrs_on = r_at + int((marks.get("qrs_on") or -0.05) * fs)
    qrs_off = r_at + int((marks.get("qrs_off") or 0.05) * fs)
    t_off = r_at + int((marks.get("t_off") or 0.40) * fs)
    baseline = medians[max(0, qrs_on - int(0.03 * fs)) : max(1, qrs_on - int(0.01 * fs))].mean(axis=0)
    beat = medians - baseline
    st_at = min(qrs_off + int(ST_OFFSET_S * fs), beat.shape[0] - 1)
    qrs = beat[qrs_on : qrs_off + 1]
    per_lead: dict[str, dict[str, float | None]] = {"st_mv": {}, "r_mv": {}, "s_mv": {}, "terminal_qrs_mv": {}}
    for i, name in enumerate(leads):
        usable = name not in flat
        per_lead["st_mv"][name] = round(float(beat[st_at, i]), 3) if usable else None
        per_lead["r_mv"][name] = round(float(max(qrs[:, i].max(), 0.0)), 3) if usable else None
        per_lead["s_mv"][name] = round(float(max(-qrs[:, i].min(), 0.0)), 3) if usable else None
        terminal = qrs[-max(1, int(0.04 * fs)) :, i].mean()
        per_lead["terminal_qrs_mv"][name] = round(float(terminal), 3) if usable else None
    p_window = _p_window(marks, r_at, fs)
    return per_lead | _voltages(per_lead) | {
        "p_amplitude_mv": _p_amplitude(beat, leads, flat, p_window),
        "p_axis_deg": _axis(beat, leads, flat, p_window),
        "qrs_axis_deg": _axis(beat, leads, flat, (qrs_on, qrs_off + 1)),
        "t_axis_deg": _axis(beat, leads, flat, (qrs_off + int(0.04 * fs), t_off)),
    }


def _p_window(marks: dict[str, float | None], r_at: int, fs: float) -> tuple[int, int]:
    on, off = marks.get("p_on"), marks.get("p_off")
    qrs_on = marks.get("qrs_on") or -0.05
    if on is None or off is None or not on < off < 0:
        on, off = qrs_on - 0.22, qrs_on - 0.02
    return r_at + int(on * fs), r_at + int(off * fs)


def _p_amplitude(beat: npt.NDArray[np.float64], leads: tuple[str, ...], flat: set[str],
                 window: tuple[int, int]) -> float | None:
    """Largest absolute deflection in the P window of lead II (else I), in mV."""
    for name in ("II", "I", "MLII"):
        if name in leads and name not in flat:
            segment = beat[window[0] : window[1], leads.index(name)]
            return round(float(np.abs(segment).max()), 3) if segment.size else None
    return None


def _axis(beat: npt.NDArray[np.float64], leads: tuple[str, ...], flat: set[str],
          window: tuple[int, int]) -> float | None:
    """Frontal-plane axis (degrees) from the net areas of leads I and aVF over ``window``."""
    if not {"I", "aVF"} <= set(leads) or {"I", "aVF"} & flat or window[1] <= window[0]:
        return None
    lead_i = float(beat[window[0] : window[1], leads.index("I")].sum())
    lead_avf = float(beat[window[0] : window[1], leads.index("aVF")].sum())
    if lead_i == 0.0 and lead_avf == 0.0:
        return None
    return round(float(np.degrees(np.arctan2(lead_avf, lead_i))), 0)


def _voltages(per_lead: dict[str, dict[str, float | None]]) -> dict[str, float | None]:
    """Sokolow-Lyon (S V1 + max R V5/V6) and Cornell (R aVL + S V3), in mV."""
    r, s = per_lead["r_mv"], per_lead["s_mv"]
    r56 = [v for v in (r.get("V5"), r.get("V6")) if v is not None]
    sokolow = None if s.get("V1") is None or not r56 else round(float(s["V1"]) + max(r56), 3)  # type: ignore[arg-type]
    r_avl, s_v3 = r.get("aVL"), s.get("V3")
    cornell = None if r_avl is None or s_v3 is None else round(r_avl + s_v3, 3)
    return {"sokolow_lyon_mv": sokolow, "cornell_mv": cornell}

"""Atrial activity of a 12-lead ECG: flutter waves and P waves that march through the QRS-T.

The P-wave analysis starts from QRST cancellation: the median beat of the dominant beats
(R - 0.25 s to just before the next beat) is subtracted beat by beat (average-beat subtraction,
Slocum et al. 1992; Stridh and Sörnmo 2001 describe the spatiotemporal refinement).  Atrial activity
locked to the QRS (a conducted sinus P wave, the P waves of 2:1 block) is part of the median beat
and cancels; P waves not locked to it (complete heart block) survive in the residual.  The flutter
analysis cannot use that residual, because fixed-ratio flutter waves are locked to the QRS and
cancel too: it blanks only each QRS and reads the spectrum of what is left.

Hand-written, because neither neurokit2 nor wfdb offers QRST cancellation or flutter-wave analysis;
the building blocks (Welch spectra, peak finding, filtering) are scipy's.

* **Flutter** (:func:`flutter_evidence`): in at least two of II, III, aVF and V1 the spectrum (Welch)
  of the signal with each QRS blanked has its dominant 3-7 Hz peak at 240-340/min, holding at least
  :data:`FLUTTER_CONCENTRATION` of the 2-15 Hz power within 0.4 Hz of the peak and its harmonic,
  with no isoelectric baseline between beats (the narrow-band envelope's smallest phase of the RR
  cycle at least :data:`FLUTTER_COVERAGE` of its largest).  The leads must agree on the rate within 0.4 Hz.
  These thresholds were set looking at the 164 labelled records of ``../shared/data/ecg12_cinc`` (7 with
  flutter), the only flutter data here: on them 1 of 7 flutter records is called and no other record.
* **AV dissociation** (:func:`dissociation_evidence`): P-like peaks in the residual of II (else I,
  aVF, V1) at a regular atrial rate faster than the ventricular rate, with the intervals from P to
  the next R varying (no fixed PR).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.signal import butter, find_peaks, hilbert, sosfiltfilt, welch

__all__ = [
    "FLUTTER_BAND_HZ",
    "FLUTTER_CONCENTRATION",
    "FLUTTER_COVERAGE",
    "FLUTTER_STRONG",
    "AtrialActivity",
    "analyse_atrial_activity",
    "qrst_residual",
]

#: Atrial flutter rate, 240-340/min, in Hz.
FLUTTER_BAND_HZ = (4.0, 340 / 60)
#: Share of the 2-15 Hz power within 0.4 Hz of the flutter peak (and its first harmonic).
FLUTTER_CONCENTRATION = 0.45
#: Smallest over largest flutter-band envelope across the phases of the RR cycle (no isoelectric baseline).
FLUTTER_COVERAGE = 0.65
#: Concentration in two leads at which flutter waves outweigh an upright "P wave" in II (an F wave).
FLUTTER_STRONG = 0.55
_FLUTTER_LEADS = ("II", "III", "aVF", "V1")
_P_LEADS = ("II", "I", "aVF", "V1")
_PRE_S = 0.25
_QRS_BLANK_S = (0.06, 0.08)


@dataclasses.dataclass(frozen=True, slots=True)
class AtrialActivity:
    """What the atrial analysis found; ``values`` is the JSON form added to the measurements."""

    values: dict[str, Any]


def qrst_residual(signal: npt.NDArray[np.float64], peaks: npt.NDArray[np.int64], dominant: npt.NDArray[np.bool_],
                  fs: float) -> npt.NDArray[np.float64]:
    """``signal`` with the median dominant beat subtracted at every beat; non-dominant beats blanked.

    The template spans R - 0.25 s (the P wave of a conducted beat) to R + (median RR - 0.27 s), capped at 0.60 s.
    """
    rr = float(np.median(np.diff(peaks))) / fs
    pre, post = int(_PRE_S * fs), int(min(0.60, max(0.20, rr - _PRE_S - 0.02)) * fs)
    inner = (peaks >= pre) & (peaks + post < signal.size)
    use = inner & dominant if (inner & dominant).sum() >= 2 else inner
    residual = signal.copy()
    if use.sum() < 2:
        return residual
    template = np.median(np.stack([signal[p - pre : p + post] for p in peaks[use]]), axis=0)
    for p, ok in zip(peaks, dominant, strict=True):
        if p < pre or p + post >= signal.size:
            continue
        residual[p - pre : p + post] = (signal[p - pre : p + post] - template) if ok else 0.0
    return residual


def _blank_qrs(signal: npt.NDArray[np.float64], peaks: npt.NDArray[np.int64], fs: float) -> tuple[
        npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """The lead with each QRS replaced by a straight line, and the mask of what was kept."""
    out, keep = signal.copy(), np.ones(signal.size, dtype=bool)
    before, after = int(_QRS_BLANK_S[0] * fs), int(_QRS_BLANK_S[1] * fs)
    for p in peaks:
        a, b = max(0, p - before), min(signal.size - 1, p + after)
        out[a : b + 1] = np.linspace(signal[a], signal[b], b - a + 1)
        keep[a : b + 1] = False
    return out, keep


def _uniformity(envelope: npt.NDArray[np.float64], peaks: npt.NDArray[np.int64], fs: float) -> float:
    """Smallest over largest of the median envelope in 8 phase bins of each R+80 ms .. next R-60 ms span.

    Near 1 when the wave runs through the whole cycle (no isoelectric baseline, as in flutter); near
    0 when it lives only in the P and T waves (sinus rhythm).
    """
    rows = []
    for a, b in zip(peaks[:-1] + int(0.08 * fs), peaks[1:] - int(0.06 * fs), strict=True):
        if b - a >= 16:
            rows.append([float(part.mean()) for part in np.array_split(envelope[a:b], 8)])
    if len(rows) < 2:
        return 0.0
    profile = np.median(np.array(rows), axis=0)
    return float(profile.min() / profile.max()) if profile.max() > 0 else 0.0


def _flutter_lead(signal: npt.NDArray[np.float64], peaks: npt.NDArray[np.int64], fs: float) -> dict[str, float]:
    """Dominant 3-7 Hz frequency, its spectral concentration and its time coverage for one lead."""
    blanked, keep = _blank_qrs(signal, peaks, fs)
    n = min(blanked.size, int(4 * fs))
    freqs, power = welch(blanked, fs=fs, nperseg=n, nfft=max(n, int(8 * fs)))
    search = (freqs >= 3.0) & (freqs <= 7.0)
    peak = float(freqs[search][np.argmax(power[search])])
    near = (np.abs(freqs - peak) <= 0.4) | (np.abs(freqs - 2 * peak) <= 0.4)
    total = (freqs >= 2.0) & (freqs <= 15.0)
    concentration = float(power[near & total].sum() / max(power[total].sum(), 1e-12))
    sos = butter(2, [max(0.5, peak - 1.0), peak + 1.0], btype="bandpass", fs=fs, output="sos")
    envelope = np.abs(hilbert(sosfiltfilt(sos, blanked)))
    coverage = _uniformity(envelope, peaks, fs)
    amplitude = float(np.median(envelope[keep])) if keep.any() else 0.0
    return {"frequency_hz": peak, "concentration": concentration, "coverage": coverage,
            "amplitude_mv": amplitude}


def flutter_evidence(filtered: npt.NDArray[np.float64], leads: tuple[str, ...], flat: set[str],
                     peaks: npt.NDArray[np.int64], fs: float) -> dict[str, Any]:
    """Per-lead flutter figures of II/III/aVF/V1 and whether they meet the flutter criteria."""
    per_lead = {name: _flutter_lead(filtered[:, leads.index(name)], peaks, fs)
                for name in _FLUTTER_LEADS if name in leads and name not in flat}
    hits = {name: f for name, f in per_lead.items()
            if FLUTTER_BAND_HZ[0] <= f["frequency_hz"] <= FLUTTER_BAND_HZ[1]
            and f["concentration"] >= FLUTTER_CONCENTRATION and f["coverage"] >= FLUTTER_COVERAGE}
    rates = [f["frequency_hz"] for f in hits.values()]
    agree = len(hits) >= 2 and max(rates) - min(rates) <= 0.4
    return {
        "flutter_leads": sorted(hits) if agree else [],
        "flutter_strong": agree and sorted(f["concentration"] for f in hits.values())[-2] >= FLUTTER_STRONG,
        "atrial_flutter_rate_per_min": round(60.0 * float(np.median(rates)), 0) if agree else None,
        "flutter_figures": {name: {k: round(v, 3) for k, v in f.items()} for name, f in per_lead.items()},
    }


def dissociation_evidence(filtered: npt.NDArray[np.float64], leads: tuple[str, ...], flat: set[str],
                          peaks: npt.NDArray[np.int64], dominant: npt.NDArray[np.bool_], fs: float) -> dict[str, Any]:
    """P waves in the QRST residual: atrial rate, P-P regularity and the spread of P-to-R intervals.

    ``p_to_r_sd_ms`` and ``p_to_r_range_ms`` describe the interval from each R peak back to the
    P wave before it: nearly constant when every QRS is conducted from its P wave (sinus rhythm,
    2:1 block), spread over the atrial cycle when P waves march through the QRS independently.
    An atrial rate that is an exact multiple of the ventricular rate (isorhythmic dissociation)
    cannot be told from 2:1 conduction in 10 s and is not called.
    """
    name = next((x for x in _P_LEADS if x in leads and x not in flat), None)
    empty: dict[str, Any] = {"atrial_rate_bpm": None, "pp_cv": None, "p_wave_count": 0, "p_lead": name,
                             "p_to_r_sd_ms": None, "p_to_r_range_ms": None}
    if name is None or peaks.size < 3:
        return empty
    residual = qrst_residual(filtered[:, leads.index(name)], peaks, dominant, fs)
    sos = butter(2, [2.0, 15.0], btype="bandpass", fs=fs, output="sos")
    smooth = sosfiltfilt(sos, residual)
    for p in peaks:  # what is left of a QRS is no P wave; a P wave hidden in the QRS cannot be seen
        smooth[max(0, p - int(0.05 * fs)) : p + int(0.08 * fs)] = 0.0
    smooth[: peaks[0]] = 0.0  # outside the analysed beats nothing was cancelled
    smooth[peaks[-1] :] = 0.0
    polarity = 1.0 if np.percentile(smooth, 99.5) >= -np.percentile(smooth, 0.5) else -1.0
    height = max(0.04, 0.4 * float(np.percentile(polarity * smooth, 99.5)))
    p_peaks, _ = find_peaks(polarity * smooth, height=height, distance=int(0.24 * fs))
    if p_peaks.size < 4:
        return empty | {"p_wave_count": int(p_peaks.size)}
    cycle = float(np.median(np.diff(p_peaks) / fs))
    gaps = np.diff(p_peaks) / fs
    pp = gaps / np.maximum(1, np.round(gaps / cycle))  # a P wave hidden in a QRS leaves a double interval
    preceding = [p_peaks[p_peaks < r] for r in peaks]
    p_to_r = np.array([(r - last[-1]) / fs for r, last in zip(peaks, preceding, strict=True) if last.size])
    enough = p_to_r.size >= 3
    return {"atrial_rate_bpm": round(60.0 / cycle, 1), "pp_cv": round(float(np.std(pp) / np.mean(pp)), 3),
            "p_wave_count": int(p_peaks.size), "p_lead": name,
            "p_to_r_sd_ms": round(1000 * float(np.std(p_to_r)), 1) if enough else None,
            "p_to_r_range_ms": round(1000 * float(np.ptp(p_to_r)), 1) if enough else None}

def analyse_atrial_activity(filtered: npt.NDArray[np.float64], leads: tuple[str, ...], flat: set[str],
                            peaks: npt.NDArray[np.int64], dominant: npt.NDArray[np.bool_],
                            fs: float) -> AtrialActivity:
    """Flutter and AV-dissociation figures of band-passed leads ``filtered`` (samples x leads).

    Parameters
    ----------
    filtered
        Band-passed signal (:func:`pipelines.ecg_measure.band_pass`), mV.
    leads, flat
        Lead names, and those that are flat (never read).
    peaks, dominant
        Aligned R peaks (samples) and which of them are dominant beats.
    fs
        Sampling frequency (Hz).
    """
    return AtrialActivity(flutter_evidence(filtered, leads, flat, peaks, fs)
                          | dissociation_evidence(filtered, leads, flat, peaks, dominant, fs))

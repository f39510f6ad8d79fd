"""ECG heart-rate pre-read: R peaks on one lead, heart rate, RR regularity, a rate class.

Pre-process (pick a lead), predict (R peaks by neurokit2) and post-process (measurements,
rule-based findings, preliminary text) are separate functions.

R peaks come from neurokit2's Pan-Tompkins implementation (``ecg_clean`` + ``ecg_peaks``,
``method="pantompkins1985"``); neurokit2's own detector (``method="neurokit"``) measures the rate a
second time.  Where the two rates differ by more than :data:`DETECTOR_DISAGREEMENT` the result says
the rate is uncertain (noise, artefact or an arrhythmia the detectors read differently), and an
extreme rate is called critical only when both detectors put it outside 40-150 bpm.  A flat or too
short tracing is a real outcome: its finding says the rate could not be measured.  When the two
detectors disagree on the chosen lead, up to three other leads are tried and the first on which
they agree gives the rate.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from pipelines.types import Finding, PrereadResult

if TYPE_CHECKING:
    from sharedcenter.ecg.record import EcgRecord

__all__ = [
    "ALGORITHM",
    "BRADYCARDIA_BPM",
    "CHECK_METHOD",
    "CRITICAL_HIGH_BPM",
    "CRITICAL_LOW_BPM",
    "DETECTOR_DISAGREEMENT",
    "IRREGULAR_RR_CV",
    "PRELIMINARY_PREFIX_EN",
    "PRELIMINARY_PREFIX_ZH",
    "PRIMARY_METHOD",
    "TACHYCARDIA_BPM",
    "VERSION",
    "RateMeasurement",
    "choose_lead",
    "measure_best_lead",
    "measure_rate",
    "preread_ecg",
]

logger = logging.getLogger(__name__)

ALGORITHM = "sharedcenter.ecg-rate"
VERSION = "0.1.0"
PRELIMINARY_PREFIX_ZH = "【AI 预阅，仅供参考，须经医师审核】"
PRELIMINARY_PREFIX_EN = "[AI preliminary read - must be reviewed by a physician]"
BRADYCARDIA_BPM = 60.0
TACHYCARDIA_BPM = 100.0
CRITICAL_LOW_BPM = 40.0
CRITICAL_HIGH_BPM = 150.0
#: RR coefficient of variation above which the rhythm is called irregular.
IRREGULAR_RR_CV = 0.15
#: Relative difference of the two detectors' rates above which the rate is uncertain.
DETECTOR_DISAGREEMENT = 0.10
#: neurokit2 method of the R peaks reported.
PRIMARY_METHOD = "pantompkins1985"
#: neurokit2 method of the second, checking detector.
CHECK_METHOD = "neurokit"
#: A lead whose 1st-99th percentile spread is below this (mV) carries no ECG.
FLAT_MV = 0.05
MIN_DURATION_S = 3.0
MIN_BEATS = 3
#: Physiological RR range (s); intervals outside it are artefacts or missed beats.
_RR_RANGE_S = (0.25, 3.0)
_PREFERRED_LEADS = ("II", "MLII")
#: Leads tried, in order, when the detectors disagree on the first one.
_FALLBACK_LEADS = ("V5", "I", "V6", "aVF", "V2", "V1", "III", "V4", "V3", "aVL", "aVR")


@dataclasses.dataclass(frozen=True, slots=True)
class RateMeasurement:
    """What the detectors found on one lead; ``reason`` is set when no rate could be had."""

    lead: str
    fs: float
    duration_s: float
    r_peaks: npt.NDArray[np.int64]
    check_r_peaks: npt.NDArray[np.int64]
    warnings: tuple[str, ...] = ()
    reason: str = ""
    reason_zh: str = ""

    @property
    def rr_s(self) -> npt.NDArray[np.float64]:
        """RR intervals in seconds of the primary detector, physiological ones only."""
        return _rr(self.r_peaks, self.fs)

    @property
    def measurable(self) -> bool:
        return not self.reason and self.rr_s.size >= MIN_BEATS - 1

    @property
    def check_rate_bpm(self) -> float | None:
        """Heart rate by the checking detector (median RR), if it found enough beats."""
        rr = _rr(self.check_r_peaks, self.fs)
        return 60.0 / float(np.median(rr)) if rr.size >= MIN_BEATS - 1 else None


def preread_ecg(record: EcgRecord) -> PrereadResult:
    """Pre-read an ECG for heart rate and RR regularity.

    Parameters
    ----------
    record
        The canonical ECG record (millivolts).

    Returns
    -------
    PrereadResult
        Measurements (``heart_rate_bpm`` from the median RR, ``heart_rate_mean_bpm``,
        ``rr_count``, ``rr_cv``, ``duration_s``, ``heart_rate_check_bpm`` ...); a rate-class
        finding (critical below 40 or above 150 bpm when both detectors agree), ``irregular-rr``
        and ``rate-uncertain`` where they apply, or ``rate-not-measurable`` for a flat or short
        tracing.
    """
    clock = [time.perf_counter()]
    lead = choose_lead(record)
    clock.append(time.perf_counter())
    measurement = measure_best_lead(record, lead)
    lead = measurement.lead
    clock.append(time.perf_counter())
    measurements = _measurements(measurement)
    findings = _findings(measurement, measurements)
    text_zh, text_en = _texts(measurement, measurements, findings)
    clock.append(time.perf_counter())
    return PrereadResult(
        algorithm=ALGORITHM,
        version=VERSION,
        parameters=_parameters(lead, record.fs),
        findings=findings,
        measurements=measurements,
        preliminary_text=text_zh,
        preliminary_text_en=text_en,
        timings={
            "preprocess_s": clock[1] - clock[0],
            "r_peaks_s": clock[2] - clock[1],
            "postprocess_s": clock[3] - clock[2],
            "total_s": clock[3] - clock[0],
        },
    )


def choose_lead(record: EcgRecord) -> str:
    """Lead II (or MLII) if it carries signal, else the first lead that does, else the first lead."""
    candidates = [name for name in _PREFERRED_LEADS if name in record.leads] + list(record.leads)
    for name in candidates:
        if not _is_flat(record.lead(name)):
            return name
    return candidates[0]


def measure_best_lead(record: EcgRecord, first: str, tries: int = 3) -> RateMeasurement:
    """Measure on ``first``; when its two detectors disagree, on up to ``tries`` other leads too.

    Tall T waves or noise on one lead fool a detector where another lead is clean, so the first lead
    on which both detectors agree gives the rate; if none agrees, the first lead's measurement stands
    (and its finding says the rate is uncertain).
    """
    measurement = measure_rate(record.lead(first), record.fs, first)
    if not measurement.measurable or _detectors_agree(measurement):
        return measurement
    others = [name for name in _FALLBACK_LEADS if name in record.leads and name != first]
    others += [name for name in record.leads if name not in others and name != first]
    for name in [n for n in others if not _is_flat(record.lead(n))][:tries]:
        candidate = measure_rate(record.lead(name), record.fs, name)
        if candidate.measurable and _detectors_agree(candidate):
            return candidate
    return measurement


def _detectors_agree(measurement: RateMeasurement) -> bool:
    rate = 60.0 / float(np.median(measurement.rr_s))
    check = measurement.check_rate_bpm
    return check is not None and abs(check - rate) <= DETECTOR_DISAGREEMENT * rate


def measure_rate(signal: npt.NDArray[np.float32], fs: float, lead: str) -> RateMeasurement:
    """Find R peaks on one lead with both detectors; a flat or short signal gives a ``reason``."""
    duration = signal.shape[0] / fs
    empty = np.zeros(0, dtype=np.int64)
    if duration < MIN_DURATION_S:
        reason = f"recording too short ({duration:.1f} s < {MIN_DURATION_S:.0f} s)"
        reason_zh = f"记录过短（{duration:.1f} 秒，不足 {MIN_DURATION_S:.0f} 秒）"
        return RateMeasurement(lead, fs, duration, empty, empty, reason=reason, reason_zh=reason_zh)
    if _is_flat(signal):
        reason, reason_zh = f"lead {lead} is flat (no ECG signal)", f"导联 {lead} 为直线（无心电信号）"
        return RateMeasurement(lead, fs, duration, empty, empty, reason=reason, reason_zh=reason_zh)
    peaks, caught = _detect_r_peaks(signal, fs, PRIMARY_METHOD)
    check, caught_check = _detect_r_peaks(signal, fs, CHECK_METHOD)
    measurement = RateMeasurement(lead, fs, duration, peaks, check, warnings=caught + caught_check)
    if not measurement.measurable:
        reason = f"only {peaks.size} R peaks found on lead {lead} (need {MIN_BEATS})"
        reason_zh = f"导联 {lead} 仅检出 {peaks.size} 个 R 波（至少需要 {MIN_BEATS} 个）"
        return dataclasses.replace(measurement, reason=reason, reason_zh=reason_zh)
    return measurement


def _rr(peaks: npt.NDArray[np.int64], fs: float) -> npt.NDArray[np.float64]:
    rr = np.diff(peaks).astype(np.float64) / fs
    rr = rr[(rr >= _RR_RANGE_S[0]) & (rr <= _RR_RANGE_S[1])]
    return _trim_edge_artefacts(rr)


def _trim_edge_artefacts(rr: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Drop a first or last interval under 60 % of the median: a detection on the band-pass filter's
    start-up transient, not a beat (a premature beat exactly at the edge is lost with it)."""
    if rr.size < 4:
        return rr
    short = 0.6 * float(np.median(rr))
    start = 1 if rr[0] < short else 0
    end = rr.size - 1 if rr[-1] < short else rr.size
    return rr[start:end]


def _is_flat(signal: npt.NDArray[np.float32]) -> bool:
    low, high = np.percentile(signal, [1, 99])
    return bool(high - low < FLAT_MV)


def _detect_r_peaks(
    signal: npt.NDArray[np.float32], fs: float, method: str
) -> tuple[npt.NDArray[np.int64], tuple[str, ...]]:
    """R-peak sample indices by one neurokit2 method; its warnings are returned, not raised."""
    import neurokit2 as nk  # slow to import; only the workers that pre-read ECGs need it

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            cleaned = nk.ecg_clean(signal.astype(np.float64), sampling_rate=fs, method=method)
            _, info = nk.ecg_peaks(cleaned, sampling_rate=fs, method=method)
        except (ValueError, IndexError, ZeroDivisionError) as exc:
            logger.warning("R-peak detection (%s) failed: %s", method, exc)
            return np.zeros(0, dtype=np.int64), (f"R-peak detection ({method}) failed: {exc}",)
    peaks = np.unique(np.asarray(info["ECG_R_Peaks"], dtype=np.int64))
    return peaks, tuple(f"{method}: {w.message}" for w in caught)


def _measurements(measurement: RateMeasurement) -> dict[str, Any]:
    """Numbers of the pre-read (rates in bpm, times in seconds)."""
    values: dict[str, Any] = {
        "lead": measurement.lead,
        "fs_hz": measurement.fs,
        "duration_s": round(measurement.duration_s, 3),
        "beat_count": int(measurement.r_peaks.size),
        "rate_measurable": measurement.measurable,
        "warnings": list(measurement.warnings),
    }
    if not measurement.measurable:
        return values | {"reason": measurement.reason}
    rr = measurement.rr_s
    rate = 60.0 / float(np.median(rr))
    check = measurement.check_rate_bpm
    return values | {
        "heart_rate_bpm": round(rate, 1),
        "heart_rate_mean_bpm": round(60.0 / float(np.mean(rr)), 1),
        "rr_count": int(rr.size),
        "rr_mean_s": round(float(np.mean(rr)), 4),
        "rr_median_s": round(float(np.median(rr)), 4),
        "rr_cv": round(float(np.std(rr) / np.mean(rr)), 4),
        "heart_rate_check_bpm": None if check is None else round(check, 1),
        "detectors_agree": check is not None and abs(check - rate) <= DETECTOR_DISAGREEMENT * rate,
    }


def _findings(measurement: RateMeasurement, values: dict[str, Any]) -> list[Finding]:
    """Rate class, RR regularity and detector agreement, or "rate not measurable"."""
    if not measurement.measurable:
        return [
            Finding(
                code="rate-not-measurable",
                label="Heart rate could not be measured",
                label_zh="无法测量心率",
                flagged=True,
                source="measurement",
                evidence=measurement.reason,
            )
        ]
    findings = [_rate_finding(values["heart_rate_bpm"], values["heart_rate_check_bpm"])]
    if values["rr_cv"] > IRREGULAR_RR_CV:
        findings.append(
            Finding(
                code="irregular-rr",
                label="Irregular RR intervals",
                label_zh="RR 间期不规则",
                threshold=IRREGULAR_RR_CV,
                flagged=True,
                evidence=f"RR coefficient of variation {values['rr_cv']:.2f} > {IRREGULAR_RR_CV}",
            )
        )
    if not values["detectors_agree"]:
        findings.append(_uncertain_finding(values))
    return findings


def _is_critical(rate: float | None) -> bool:
    return rate is not None and (rate < CRITICAL_LOW_BPM or rate > CRITICAL_HIGH_BPM)


def _rate_finding(rate: float, check: float | None) -> Finding:
    """Bradycardia / normal rate / tachycardia; critical when both detectors are outside 40-150 bpm."""
    critical = _is_critical(rate) and _is_critical(check)
    evidence = f"heart rate {rate:.0f} bpm (median RR)"
    if rate < BRADYCARDIA_BPM:
        label, label_zh = ("Marked bradycardia", "显著心动过缓") if critical else ("Bradycardia", "心动过缓")
        code, threshold = "bradycardia", BRADYCARDIA_BPM
    elif rate > TACHYCARDIA_BPM:
        label, label_zh = ("Marked tachycardia", "显著心动过速") if critical else ("Tachycardia", "心动过速")
        code, threshold = "tachycardia", TACHYCARDIA_BPM
    else:
        return Finding("normal-rate", "Heart rate within normal range", "心率正常", evidence=evidence)
    return Finding(code, label, label_zh, threshold=threshold, flagged=True, critical=critical, evidence=evidence)


def _uncertain_finding(values: dict[str, Any]) -> Finding:
    check = values["heart_rate_check_bpm"]
    check_text = "no rate" if check is None else f"{check:.0f} bpm"
    return Finding(
        code="rate-uncertain",
        label="Heart rate uncertain (R-peak detectors disagree; noise or arrhythmia?)",
        label_zh="心率测量不确定（两种 R 波检测方法结果不一致，可能为干扰或心律失常）",
        threshold=DETECTOR_DISAGREEMENT,
        flagged=True,
        source="measurement",
        evidence=f"{PRIMARY_METHOD} {values['heart_rate_bpm']:.0f} bpm, {CHECK_METHOD} {check_text}",
    )


def _parameters(lead: str, fs: float) -> dict[str, Any]:
    import neurokit2 as nk

    return {
        "lead": lead,
        "fs_hz": fs,
        "method": f"neurokit2 {nk.__version__} ecg_clean + ecg_peaks ({PRIMARY_METHOD})",
        "check_method": f"neurokit2 {nk.__version__} ecg_clean + ecg_peaks ({CHECK_METHOD})",
        "heart_rate_from": "median RR",
        "rr_range_s": list(_RR_RANGE_S),
        "bradycardia_bpm": BRADYCARDIA_BPM,
        "tachycardia_bpm": TACHYCARDIA_BPM,
        "critical_bpm": [CRITICAL_LOW_BPM, CRITICAL_HIGH_BPM],
        "irregular_rr_cv": IRREGULAR_RR_CV,
        "detector_disagreement": DETECTOR_DISAGREEMENT,
    }


def _texts(measurement: RateMeasurement, values: dict[str, Any], findings: list[Finding]) -> tuple[str, str]:
    """Chinese and English preliminary text, each starting with the "AI preliminary" label."""
    head_zh = f"导联 {measurement.lead}，记录时长 {values['duration_s']:.1f} 秒。"
    head_en = f"Lead {measurement.lead}, {values['duration_s']:.1f} s recorded. "
    if not measurement.measurable:
        return (
            f"{PRELIMINARY_PREFIX_ZH}{head_zh}无法测量心率：{measurement.reason_zh}。请检查导联连接后重新采集。",
            f"{PRELIMINARY_PREFIX_EN} {head_en}Heart rate could not be measured: {measurement.reason}. "
            "Check the electrodes and record again.",
        )
    body_zh = (
        f"检出 {values['beat_count']} 个 R 波，心率 {values['heart_rate_bpm']:.0f} 次/分"
        f"（平均 {values['heart_rate_mean_bpm']:.0f} 次/分），RR 间期变异系数 {values['rr_cv']:.2f}。"
    )
    body_en = (
        f"{values['beat_count']} R peaks, heart rate {values['heart_rate_bpm']:.0f} bpm "
        f"(mean {values['heart_rate_mean_bpm']:.0f} bpm), RR coefficient of variation {values['rr_cv']:.2f}. "
    )
    critical = any(f.critical for f in findings)
    tail_zh = "提示：" + "；".join(f.label_zh for f in findings) + ("（危急值）" if critical else "") + "。"
    tail_en = "Impression: " + "; ".join(f.label for f in findings) + (" (critical)" if critical else "") + "."
    return PRELIMINARY_PREFIX_ZH + head_zh + body_zh + tail_zh, f"{PRELIMINARY_PREFIX_EN} {head_en}{body_en}{tail_en}"

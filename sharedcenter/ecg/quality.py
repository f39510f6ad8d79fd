"""Signal quality at upload: is the recording good enough, or must it be repeated now?

Per lead, :func:`assess_quality` looks for a flat line (lead off), saturation (samples stuck at
the recorder's limit), high-frequency noise (power above 40 Hz, mains hum included, against the
ECG band), baseline wander (drift below 0.7 Hz) and, across the limb leads, the common LA/RA
reversal pattern (lead I inverted and aVR upright while the precordial leads look normal).
neurokit2's ``ecg_quality`` (Zhao & Zhang 2018: pSQI, kSQI, basSQI with fuzzy fusion, here the
"simple" rule) grades one reference lead.  The verdict is the worst severity found:

* ``acceptable``: nothing found;
* ``acceptable_with_warnings``: readable, but a lead is noisy or drifting;
* ``repeat_recording``: a lead is off or saturated, or the limb electrodes look swapped.

Every finding names its lead and says why, in Chinese and English.  The thresholds are module
constants, chosen on the real records of the shared data set (see the tests).
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import warnings
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.signal import find_peaks

from sharedcenter.ecg.record import EcgRecord

__all__ = [
    "ALGORITHM",
    "VERSION",
    "LeadFinding",
    "Problem",
    "QualityReport",
    "Severity",
    "Verdict",
    "assess_quality",
]

logger = logging.getLogger(__name__)

ALGORITHM = "sharedcenter.ecg-quality"
VERSION = "1.0.0"

#: A lead whose peak-to-peak range is below this (mV) carries no ECG: lead off or zeroed.
FLAT_PTP_MV = 0.03
#: A lead flat (range below :data:`FLAT_PTP_MV`) in this share of its 2-second windows is (partly) off.
FLAT_STILL_SHARE = 0.5
_FLAT_WINDOW_S = 2.0
#: Share of samples at the lead's extreme values above which it is saturated (warning, repeat).
SATURATION_SHARE = (0.02, 0.10)
#: Power above 40 Hz over power in 0.7-40 Hz (warning, repeat).
NOISE_RATIO = (0.15, 1.0)
#: Below this RMS (mV) high-frequency content is not called noise, whatever the ratio.
NOISE_MIN_RMS_MV = 0.02
#: Peak-to-peak of the drift below 0.7 Hz, mV (warning, repeat).
WANDER_PTP_MV = (1.5, 4.0)
_ECG_BAND_HZ = (0.7, 40.0)
_NOISE_TOP_HZ = 150.0


class Verdict(enum.StrEnum):
    """The overall verdict shown to the technician."""

    ACCEPTABLE = "acceptable"
    ACCEPTABLE_WITH_WARNINGS = "acceptable_with_warnings"
    REPEAT_RECORDING = "repeat_recording"

    @property
    def label_zh(self) -> str:
        """The verdict in Chinese."""
        return {"acceptable": "质量合格", "acceptable_with_warnings": "基本合格（有警告）",
                "repeat_recording": "请重新采集"}[self.value]  # fmt: skip

    @property
    def label_en(self) -> str:
        """The verdict in English."""
        return self.value.replace("_", " ")


class Severity(enum.StrEnum):
    """How bad one finding is."""

    WARNING = "warning"
    REPEAT = "repeat"


class Problem(enum.StrEnum):
    """What one finding is about."""

    FLAT_LINE = "flat_line"
    SATURATION = "saturation"
    HIGH_FREQUENCY_NOISE = "high_frequency_noise"
    BASELINE_WANDER = "baseline_wander"
    LIMB_LEAD_REVERSAL = "la_ra_reversal"
    LOW_SIGNAL_QUALITY = "low_signal_quality"


@dataclasses.dataclass(frozen=True, slots=True)
class LeadFinding:
    """One problem in one lead (``lead`` is ``"I/aVR"`` for the limb-lead pattern)."""

    lead: str
    problem: Problem
    severity: Severity
    value: float
    reason_zh: str
    reason_en: str

    def to_json(self) -> dict[str, Any]:
        """The finding as a JSON object."""
        return {"lead": self.lead, "problem": self.problem.value, "severity": self.severity.value,
                "value": round(self.value, 4), "reason_zh": self.reason_zh, "reason_en": self.reason_en}  # fmt: skip


@dataclasses.dataclass(frozen=True, slots=True)
class QualityReport:
    """The verdict, the findings behind it, and the per-lead measures."""

    verdict: Verdict
    findings: tuple[LeadFinding, ...]
    measures: dict[str, dict[str, float]]
    reference_sqi: str | None

    @property
    def reasons_zh(self) -> list[str]:
        """Every finding's reason in Chinese."""
        return [finding.reason_zh for finding in self.findings]

    @property
    def reasons_en(self) -> list[str]:
        """Every finding's reason in English."""
        return [finding.reason_en for finding in self.findings]

    def leads_with(self, severity: Severity) -> list[str]:
        """The leads named by findings of ``severity``."""
        return [finding.lead for finding in self.findings if finding.severity is severity]

    def to_json(self) -> dict[str, Any]:
        """The report as returned in the upload response and stored as an AIResult."""
        return {
            "algorithm": ALGORITHM,
            "version": VERSION,
            "verdict": self.verdict.value,
            "verdict_zh": self.verdict.label_zh,
            "verdict_en": self.verdict.label_en,
            "findings": [finding.to_json() for finding in self.findings],
            "reasons_zh": self.reasons_zh,
            "reasons_en": self.reasons_en,
            "per_lead": self.measures,
            "reference_sqi": self.reference_sqi,
        }


def _spectra(signal: npt.NDArray[np.float64], fs: float) -> tuple[npt.NDArray[np.float64], npt.NDArray[Any]]:
    """Frequencies and the rFFT of every lead (mean removed)."""
    centered = signal - signal.mean(axis=0)
    freqs = np.asarray(np.fft.rfftfreq(signal.shape[0], 1.0 / fs), dtype=np.float64)
    return freqs, np.fft.rfft(centered, axis=0)


def _band_power(freqs: npt.NDArray[np.float64], power: npt.NDArray[np.float64], low: float,
                high: float) -> npt.NDArray[np.float64]:
    band = (freqs >= low) & (freqs < high)
    return np.asarray(power[band].sum(axis=0), dtype=np.float64) if band.any() else np.zeros(power.shape[1])


def _flat_window_share(signal: npt.NDArray[np.float64], fs: float) -> npt.NDArray[np.float64]:
    """Per lead, the share of whole 2-second windows whose range is below :data:`FLAT_PTP_MV`."""
    width = max(1, int(_FLAT_WINDOW_S * fs))
    n_windows = signal.shape[0] // width
    if n_windows == 0:
        return np.asarray(np.ptp(signal, axis=0) < FLAT_PTP_MV, dtype=np.float64)
    windows = signal[: n_windows * width].reshape(n_windows, width, signal.shape[1])
    return np.asarray((np.ptp(windows, axis=1) < FLAT_PTP_MV).mean(axis=0), dtype=np.float64)


def _lead_measures(record: EcgRecord) -> dict[str, npt.NDArray[np.float64]]:
    """Per-lead measures, each an array over leads."""
    signal = record.signal.astype(np.float64)
    ptp = np.ptp(signal, axis=0)
    still = _flat_window_share(signal, record.fs)
    tolerance = np.maximum(ptp * 1e-3, 1e-6)
    at_extreme = ((signal >= signal.max(axis=0) - tolerance) | (signal <= signal.min(axis=0) + tolerance)).mean(axis=0)
    freqs, spectrum = _spectra(signal, record.fs)
    power = np.abs(spectrum) ** 2
    ecg = _band_power(freqs, power, *_ECG_BAND_HZ)
    noise = _band_power(freqs, power, _ECG_BAND_HZ[1], min(_NOISE_TOP_HZ, record.fs / 2 + 1))
    drift = spectrum.copy()
    drift[freqs >= _ECG_BAND_HZ[0]] = 0
    baseline = np.fft.irfft(drift, n=signal.shape[0], axis=0)
    return {
        "ptp_mv": ptp,
        "flat_window_share": still,
        "saturation_share": at_extreme,
        "noise_ratio": noise / np.maximum(ecg, 1e-12),
        "noise_rms_mv": np.sqrt(2.0 * noise) / signal.shape[0],
        "wander_ptp_mv": np.ptp(baseline, axis=0),
    }


def _finding(lead: str, problem: Problem, severity: Severity, value: float, zh: str, en: str) -> LeadFinding:
    return LeadFinding(lead, problem, severity, float(value), zh, en)


def _graded(value: float, limits: tuple[float, float]) -> Severity | None:
    if value >= limits[1]:
        return Severity.REPEAT
    return Severity.WARNING if value >= limits[0] else None


def _lead_findings(lead: str, m: dict[str, float]) -> list[LeadFinding]:
    """Findings for one lead from its measures; a flat lead gets only the flat-line finding."""
    if m["ptp_mv"] < FLAT_PTP_MV or m["flat_window_share"] >= FLAT_STILL_SHARE:
        return [_finding(lead, Problem.FLAT_LINE, Severity.REPEAT, m["ptp_mv"],
                         f"导联 {lead} 为直线（导联脱落或电极接触不良），请检查电极后重新采集",
                         f"lead {lead} is a flat line (lead off or poor electrode contact): check the electrode "
                         "and repeat the recording")]  # fmt: skip
    out = []
    if (severity := _graded(m["saturation_share"], SATURATION_SHARE)) is not None:
        out.append(_finding(lead, Problem.SATURATION, severity, m["saturation_share"],
                            f"导联 {lead} 信号饱和（削顶），{m['saturation_share']:.0%} 的采样点处于极限值",
                            f"lead {lead} is saturated (clipped): {m['saturation_share']:.0%} of samples at the limit"))
    noisy = m["noise_rms_mv"] >= NOISE_MIN_RMS_MV
    if noisy and (severity := _graded(m["noise_ratio"], NOISE_RATIO)) is not None:
        out.append(_finding(lead, Problem.HIGH_FREQUENCY_NOISE, severity, m["noise_ratio"],
                            f"导联 {lead} 高频干扰（肌电或工频干扰），请让患者放松并远离电器",
                            f"lead {lead} has high-frequency noise (muscle tremor or mains hum): "
                            "relax the patient, move away from mains equipment"))  # fmt: skip
    if (severity := _graded(m["wander_ptp_mv"], WANDER_PTP_MV)) is not None:
        out.append(_finding(lead, Problem.BASELINE_WANDER, severity, m["wander_ptp_mv"],
                            f"导联 {lead} 基线漂移 {m['wander_ptp_mv']:.1f} mV（呼吸或体动），"
                            "请让患者平静呼吸、保持不动",
                            f"lead {lead} has baseline wander of {m['wander_ptp_mv']:.1f} mV (breathing or movement): "
                            "ask the patient to lie still and breathe calmly"))  # fmt: skip
    return out


def _beats(record: EcgRecord, usable: npt.NDArray[np.bool_]) -> npt.NDArray[np.intp]:
    """Sample indices of QRS complexes, from the slope energy of all usable leads."""
    signal = record.signal[:, usable].astype(np.float64)
    if signal.shape[1] == 0 or signal.shape[0] < record.fs:
        return np.zeros(0, dtype=np.intp)
    energy = np.abs(np.diff(signal, axis=0)).sum(axis=1)
    width = max(1, int(0.08 * record.fs))
    smooth = np.convolve(energy, np.ones(width) / width, mode="same")
    peaks, _ = find_peaks(smooth, distance=max(1, int(0.3 * record.fs)), height=0.4 * np.percentile(smooth, 99))
    found: npt.NDArray[np.intp] = np.asarray(peaks, dtype=np.intp)
    return found


def _polarity(record: EcgRecord, lead: str, beats: npt.NDArray[np.intp]) -> float:
    """Median over beats of (max + min) around the QRS, relative to the median level: >0 upright."""
    x = record.lead(lead).astype(np.float64)
    half = max(1, int(0.06 * record.fs))
    values = []
    for beat in beats:
        window = x[max(0, beat - half): beat + half + 1]
        level = float(np.median(x[max(0, beat - 4 * half): beat + 4 * half + 1]))
        values.append(window.max() + window.min() - 2 * level)
    return float(np.median(values)) if values else 0.0


def _reversal(record: EcgRecord, flat: set[str], beats: npt.NDArray[np.intp]) -> list[LeadFinding]:
    """The LA/RA reversal pattern: I inverted, aVR upright; precordial V5/V6 upright makes it likely."""
    needed = {"I", "aVR"}
    if not needed <= set(record.leads) or needed & flat or len(beats) < 3:
        return []
    lead_i, avr = _polarity(record, "I", beats), _polarity(record, "aVR", beats)
    if not (lead_i < -0.1 and avr > 0.1):
        return []
    precordial = [name for name in ("V6", "V5") if name in record.leads and name not in flat]
    normal_chest = bool(precordial) and _polarity(record, precordial[0], beats) > 0.1
    severity = Severity.REPEAT if normal_chest else Severity.WARNING
    zh = "I 导联倒置且 aVR 直立：疑似左右上肢电极（LA/RA）接反，请核对电极后重新采集"
    en = "lead I inverted and aVR upright: left/right arm electrodes (LA/RA) probably swapped; check them and repeat"
    if not normal_chest:
        zh += "（胸导联亦异常，也须考虑右位心）"
        en += " (chest leads abnormal too: consider dextrocardia)"
    return [_finding("I/aVR", Problem.LIMB_LEAD_REVERSAL, severity, lead_i, zh, en)]


def _reference_sqi(record: EcgRecord, flat: set[str]) -> tuple[str | None, list[LeadFinding]]:
    """neurokit2's Zhao 2018 grade of lead II (or the first usable lead)."""
    import neurokit2 as nk

    candidates = [name for name in ("II", "I", *record.leads) if name in record.leads and name not in flat]
    if not candidates or record.duration_s < 5:
        return None, []
    lead = candidates[0]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            grade = str(nk.ecg_quality(record.lead(lead).astype(np.float64), sampling_rate=int(round(record.fs)),
                                       method="zhao2018", approach="simple"))  # fmt: skip
    except (ValueError, IndexError, ZeroDivisionError) as exc:
        logger.info("neurokit2 could not grade lead %s: %s", lead, exc)
        return None, []
    if grade != "Unacceptable":
        return grade, []
    return grade, [_finding(lead, Problem.LOW_SIGNAL_QUALITY, Severity.WARNING, 0.0,
                            f"导联 {lead} 综合信号质量指数不合格（neurokit2 Zhao 2018）",
                            f"lead {lead} fails the combined signal quality index (neurokit2 Zhao 2018)")]  # fmt: skip


def _verdict(findings: list[LeadFinding]) -> Verdict:
    severities = {finding.severity for finding in findings}
    if Severity.REPEAT in severities:
        return Verdict.REPEAT_RECORDING
    return Verdict.ACCEPTABLE_WITH_WARNINGS if severities else Verdict.ACCEPTABLE


def assess_quality(record: EcgRecord) -> QualityReport:
    """Check every lead of ``record`` and give the verdict.

    Parameters
    ----------
    record
        A canonical record.

    Returns
    -------
    QualityReport
        The verdict, the findings (each naming its lead, in Chinese and English) and the
        per-lead measures.
    """
    arrays = _lead_measures(record)
    measures = {lead: {key: float(values[i]) for key, values in arrays.items()} for i, lead in enumerate(record.leads)}
    findings = [finding for lead in record.leads for finding in _lead_findings(lead, measures[lead])]
    flat = {f.lead for f in findings if f.problem is Problem.FLAT_LINE}
    usable = np.array([lead not in flat for lead in record.leads])
    findings += _reversal(record, flat, _beats(record, usable))
    grade, sqi_findings = _reference_sqi(record, flat)
    findings += sqi_findings
    rounded = {lead: {k: round(v, 4) for k, v in m.items()} for lead, m in measures.items()}
    return QualityReport(_verdict(findings), tuple(findings), rounded, grade)

"""12-lead ECG AI pre-read: measurements, criteria and model statements, critical flags, report text.

Pre-process and measure (:func:`pipelines.ecg_measure.measure_ecg`), predict (criteria statements
and, when a model is given, :class:`models.ecg_cnn.EcgClassifier` probabilities) and post-process
(combine, text) are separate functions.  The result is always preliminary ("AI 预阅").
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Protocol

from pipelines.ecg_measure import EcgMeasurements, measure_ecg
from pipelines.ecg_rate import PRELIMINARY_PREFIX_EN, PRELIMINARY_PREFIX_ZH
from pipelines.ecg_statements import STATEMENTS, criteria_statements
from pipelines.types import Finding, PrereadResult

if TYPE_CHECKING:
    from sharedcenter.ecg.record import EcgRecord

__all__ = ["ALGORITHM", "MODEL_CLASS_CODES", "VERSION", "ClassProbabilities", "combine", "preread_12lead",
           "report_texts"]

ALGORITHM = "sharedcenter.ecg-preread"
VERSION = "0.6.0"
#: CPSC-2018 class -> statement code the model may add when the criteria did not.
MODEL_CLASS_CODES = {"AF": "atrial-fibrillation", "I-AVB": "first-degree-av-block", "LBBB": "lbbb",
                     "RBBB": "rbbb", "PAC": "pac", "PVC": "pvc", "STD": "st-depression", "STE": "st-elevation"}
#: Classes read from lead morphology: a model call on them needs every lead to carry signal.
_MORPHOLOGY = frozenset({"LBBB", "RBBB", "STD", "STE", "I-AVB"})


class ClassProbabilities(Protocol):
    """What the pre-read needs of a model: name, version, thresholds, probabilities per class."""

    name: str
    version: str
    thresholds: dict[str, float]

    def predict(self, record: EcgRecord) -> dict[str, float]: ...


def preread_12lead(record: EcgRecord, model: ClassProbabilities | None = None) -> PrereadResult:
    """Pre-read an ECG: measurements, statements (criteria, and the model's where given), text.

    Parameters
    ----------
    record
        The canonical record (millivolts).
    model
        A loaded classifier (see :func:`models.ecg_cnn.load_classifier`); ``None``: criteria only.

    Returns
    -------
    PrereadResult
        ``measurements`` as :func:`~pipelines.ecg_measure.measure_ecg` gives them plus
        ``statements`` and ``model_probabilities``; findings tagged ``criteria`` or ``model``.
    """
    clock = [time.perf_counter()]
    measured = measure_ecg(record)
    clock.append(time.perf_counter())
    findings = criteria_statements(measured.values) or _not_measurable(measured)
    probabilities = model.predict(record) if model is not None and measured.rate.measurable else {}
    clock.append(time.perf_counter())
    if model is not None and probabilities:
        findings = combine(findings, probabilities, model.thresholds, bool(measured.values["flat_leads"]),
                           measured.values)
    values = measured.values | {"model_probabilities": {k: round(p, 4) for k, p in probabilities.items()}}
    text_zh, text_en = report_texts(values, findings)
    clock.append(time.perf_counter())
    return PrereadResult(
        algorithm=ALGORITHM, version=VERSION, parameters=_parameters(model), findings=findings,
        measurements=values, preliminary_text=text_zh, preliminary_text_en=text_en,
        timings={"measure_s": clock[1] - clock[0], "predict_s": clock[2] - clock[1],
                 "postprocess_s": clock[3] - clock[2], "total_s": clock[3] - clock[0]},
    )


def _not_measurable(measured: EcgMeasurements) -> list[Finding]:
    if measured.rate.measurable:
        return []
    return [Finding("rate-not-measurable", "ECG could not be analysed", "无法分析心电图", flagged=True,
                    source="measurement", evidence=measured.values.get("reason", ""))]


def combine(findings: list[Finding], probabilities: dict[str, float], thresholds: dict[str, float],
            has_flat_lead: bool, values: dict[str, Any] | None = None) -> list[Finding]:
    """Add the model's statements that the criteria did not make, tagged ``source="model"``.

    A morphology class (bundle branch blocks, ST changes, AV block) is not added from the model when
    a lead is flat: the model cannot show which leads it used.  Nor is a class whose definition a
    measurement contradicts: first-degree AV block with a measured PR <= 200 ms (on the held-out
    records this removed 12 of 18 false calls and no true one; the same rule for bundle branch blocks
    and QRS < 120 ms lost a true RBBB whose QRS was under-measured, so it is not applied), and PACs or
    PVCs with no premature beat of that kind counted in the measurements.  A class whose threshold
    is 1.0 (no positive training record to tune it on, or no skill out of fold: see
    ``models.ecg_train.choose_thresholds``) is never added by the model alone.  A criteria
    statement the model also supports gets the model's probability.
    """
    codes = {f.code for f in findings}
    out = []
    for finding in findings:
        cls = next((c for c, code in MODEL_CLASS_CODES.items() if code == finding.code), None)
        if cls is not None and cls in probabilities:
            finding = _with_probability(finding, probabilities[cls], thresholds.get(cls, 0.5))
        out.append(finding)
    for cls, code in MODEL_CLASS_CODES.items():
        p, threshold = probabilities.get(cls, 0.0), thresholds.get(cls, 0.5)
        if p < threshold or threshold >= 1.0 or code in codes or code == "st-elevation" and "possible-stemi" in codes:
            continue
        if has_flat_lead and cls in _MORPHOLOGY or _contradicted(cls, values or {}):
            continue
        out.append(STATEMENTS[code].finding(f"1-D CNN probability {p:.2f} >= threshold {threshold:.2f}",
                                            source="model", probability=p, threshold=threshold))
    return out


def _contradicted(cls: str, values: dict[str, Any]) -> bool:
    """Whether a measurement rules out the class by its own definition: a first-degree AV block with
    PR <= 200 ms, premature atrial or ventricular complexes with no premature beat counted."""
    pr = values.get("pr_ms")
    if cls == "I-AVB":
        return pr is not None and pr <= 200
    if cls == "PAC":
        return int(values.get("pac_count") or 0) < 1
    if cls == "PVC":
        return int(values.get("pvc_count") or 0) < 1
    return False


def _with_probability(finding: Finding, p: float, threshold: float) -> Finding:
    from dataclasses import replace

    return replace(finding, probability=round(p, 4), threshold=threshold,
                   evidence=f"{finding.evidence}; model probability {p:.2f}")


def _fmt(value: Any, unit: str) -> str:
    return "—" if value is None else f"{value:.0f} {unit}"


def report_texts(values: dict[str, Any], findings: list[Finding]) -> tuple[str, str]:
    """Chinese and English preliminary report: measurements, then statements; "AI 预阅" first."""
    if not values.get("rate_measurable"):
        reason_zh, reason = values.get("reason_zh", ""), values.get("reason", "")
        return (f"{PRELIMINARY_PREFIX_ZH}无法分析：{reason_zh}。请检查导联连接后重新采集。",
                f"{PRELIMINARY_PREFIX_EN} Could not be analysed: {reason}. Check the electrodes and record again.")
    m = {k: values.get(k) for k in ("heart_rate_bpm", "pr_ms", "qrs_ms", "qt_ms", "qtc_bazett_ms",
                                    "qtc_fridericia_ms", "p_axis_deg", "qrs_axis_deg", "t_axis_deg")}
    numbers_zh = (f"心率 {_fmt(m['heart_rate_bpm'], '次/分')}，PR {_fmt(m['pr_ms'], 'ms')}，"
                  f"QRS {_fmt(m['qrs_ms'], 'ms')}，"
                  f"QT/QTc {_fmt(m['qt_ms'], 'ms')}/{_fmt(m['qtc_bazett_ms'], 'ms')}（Bazett），"
                  f"QTcF {_fmt(m['qtc_fridericia_ms'], 'ms')}，P/QRS/T 电轴 {_fmt(m['p_axis_deg'], '°')}/"
                  f"{_fmt(m['qrs_axis_deg'], '°')}/{_fmt(m['t_axis_deg'], '°')}。")
    numbers_en = (f"HR {_fmt(m['heart_rate_bpm'], 'bpm')}, PR {_fmt(m['pr_ms'], 'ms')}, "
                  f"QRS {_fmt(m['qrs_ms'], 'ms')}, "
                  f"QT/QTc {_fmt(m['qt_ms'], 'ms')}/{_fmt(m['qtc_bazett_ms'], 'ms')} (Bazett), "
                  f"QTcF {_fmt(m['qtc_fridericia_ms'], 'ms')}, P/QRS/T axes {_fmt(m['p_axis_deg'], 'deg')}/"
                  f"{_fmt(m['qrs_axis_deg'], 'deg')}/{_fmt(m['t_axis_deg'], 'deg')}.")
    flat = values.get("flat_leads") or []
    if flat:
        numbers_zh += f"导联 {', '.join(flat)} 无信号，未用于判读。"
        numbers_en += f" Lead(s) {', '.join(flat)} flat, not used."
    source_zh = {"criteria": "标准", "model": "模型", "measurement": "测量"}
    items_zh = [f"{f.label_zh}{'（危急值）' if f.critical else ''}［{source_zh.get(f.source, f.source)}］"
                for f in findings]
    items_en = [f"{f.label}{' (CRITICAL)' if f.critical else ''} [{f.source}]" for f in findings]
    tail_zh = "提示：" + ("；".join(items_zh) if items_zh else "未见可判读的异常") + "。"
    tail_en = " Statements: " + ("; ".join(items_en) if items_en else "none") + "."
    return PRELIMINARY_PREFIX_ZH + numbers_zh + tail_zh, PRELIMINARY_PREFIX_EN + " " + numbers_en + tail_en


def _parameters(model: ClassProbabilities | None) -> dict[str, Any]:
    import neurokit2 as nk

    return {"measurement": f"neurokit2 {nk.__version__} Pan-Tompkins R peaks, DWT delineation of one lead, "
                           "median beats, global QRS from spatial velocity",
            "statements": "criteria (see pipelines.ecg_statements)",
            "model": None if model is None else {"name": model.name, "version": model.version,
                                                 "thresholds": model.thresholds}}

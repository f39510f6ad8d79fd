"""Chest radiograph pre-read: pre-process (pick, decode, quality gate), predict, post-process.

Plain inputs (the study's DICOM Part 10 bytes) in, a :class:`CxrPreread` out: the
:class:`~pipelines.types.PrereadResult` plus the Grad-CAM heatmaps of flagged findings and the
chosen image, which the worker turns into stored artifacts.  Bad input never raises: it gives a
result whose finding says "cannot pre-read" and why.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pipelines.cxr_image import CxrImage, display_of, select_chest_image
from pipelines.cxr_quality import QualityReport, Verdict, assess
from pipelines.types import Finding, PrereadResult
from sharedcenter.errors import InvalidInput

__all__ = ["ALGORITHM", "LABELS_ZH", "CxrPreread", "analyse", "preread_cxr"]

logger = logging.getLogger(__name__)

ALGORITHM = "sharedcenter.cxr-preread"
PRELIMINARY_ZH = "【AI 预阅，仅供参考，须经医师审核】"
PRELIMINARY_EN = "[AI preliminary read - must be reviewed by a physician]"
#: Chinese names of the labels of both shipped and ChestX-ray14 models.
LABELS_ZH = {
    "abnormal": "异常", "opacity": "肺炎样渗出影", "Atelectasis": "肺不张", "Cardiomegaly": "心影增大",
    "Effusion": "胸腔积液", "Infiltration": "浸润影", "Mass": "肿块", "Nodule": "结节", "Pneumonia": "肺炎",
    "Pneumothorax": "气胸", "Consolidation": "实变", "Edema": "肺水肿", "Emphysema": "肺气肿",
    "Fibrosis": "纤维化", "Pleural_Thickening": "胸膜增厚", "Hernia": "膈疝",
}
_CRITICAL = frozenset({"Pneumothorax"})
FloatArray = npt.NDArray[np.float32]


@dataclasses.dataclass(frozen=True, slots=True)
class CxrPreread:
    """The result, the heatmaps of flagged labels (label -> 0..1 map) and the chosen image."""

    result: PrereadResult
    heatmaps: dict[str, FloatArray]
    image: CxrImage | None
    quality: QualityReport | None


@dataclasses.dataclass(frozen=True, slots=True)
class _Prediction:
    labels: tuple[str, ...]
    probabilities: FloatArray
    thresholds: tuple[float, ...]
    cams: dict[str, FloatArray]
    model: dict[str, str]
    #: whether this model's findings may be flagged (see :data:`models.cxr_load.DEFAULT_WEIGHTS_FLAG`)
    may_flag: bool = True


def _predict(image: CxrImage, model_path: str | Path | None) -> _Prediction:
    """Probabilities and Grad-CAM maps of the labels over threshold (imports torch on first use)."""
    from models.cxr_gradcam import predict, predict_with_cam
    from models.cxr_load import DEFAULT_WEIGHTS, DEFAULT_WEIGHTS_FLAG, load_cxr_model

    model = load_cxr_model(model_path)
    probabilities = predict(model, image.display)
    may_flag = Path(model.weights).resolve() != DEFAULT_WEIGHTS.resolve() or DEFAULT_WEIGHTS_FLAG
    flagged = [i for i, p in enumerate(probabilities) if may_flag and p >= model.thresholds[i]]
    cams: dict[int, FloatArray] = {}
    if flagged:
        probabilities, cams = predict_with_cam(model, image.display, flagged)
    return _Prediction(model.labels, probabilities, model.thresholds,
                       {model.labels[i]: cam for i, cam in cams.items()},
                       {"architecture": model.architecture, "version": model.version,
                        "weights": Path(model.weights).name}, may_flag)


def analyse(image: CxrImage, model_path: str | Path | None = None) -> tuple[QualityReport, _Prediction | None]:
    """The quality gate, then the model unless the image is no frontal chest radiograph."""
    quality = assess(image)
    if quality.verdict is Verdict.NOT_CHEST or not quality.frontal:
        return quality, None
    return quality, _predict(image, model_path)


def preread_cxr(instances: Sequence[bytes], model_path: str | Path | None = None) -> CxrPreread:
    """Pre-read a chest radiograph study.

    Parameters
    ----------
    instances
        The study's instances as DICOM Part 10 bytes.
    model_path
        Weights to load (a ChestX-ray14 DenseNet-121 checkpoint, or the project's format); the
        shipped default when None.

    Returns
    -------
    CxrPreread
        Never raises on bad input: an unreadable study gives a "cannot pre-read" finding.
    """
    start = time.perf_counter()
    try:
        data, header = select_chest_image(instances)
        image = display_of(data, header)
    except InvalidInput as exc:
        return CxrPreread(_cannot(str(exc), time.perf_counter() - start), {}, None, None)
    decoded = time.perf_counter()
    try:
        quality, prediction = analyse(image, model_path)
    except (FileNotFoundError, ValueError) as exc:  # a missing or unfit weights file: say so, do not crash
        logger.error("chest radiograph model unavailable: %s", exc)
        return CxrPreread(_cannot(f"model unavailable: {exc}", time.perf_counter() - start), {}, image, None)
    timings = {"decode_s": decoded - start, "total_s": time.perf_counter() - start}
    result = _result(image, quality, prediction, timings)
    return CxrPreread(result, prediction.cams if prediction else {}, image, quality)


def _cannot(reason: str, seconds: float) -> PrereadResult:
    finding = Finding("cannot-preread", f"Cannot pre-read: {reason}", f"无法预阅：{reason}", flagged=True)
    return PrereadResult(ALGORITHM, _version(), {}, [finding], {"cannot_preread": reason},
                         f"{PRELIMINARY_ZH}无法预阅：{reason}。", f"{PRELIMINARY_EN} Cannot pre-read: {reason}.",
                         {"total_s": seconds})


def _version() -> str:
    return "0.1.0"


#: why the shipped default model's probabilities are shown but never flag a finding
_NOT_VALIDATED = ("shipped demonstration model, not useful on held-out patients (see models/weights/cxr_small.md):"
                  " probability shown for information only; configure a validated checkpoint to flag findings")


def _model_findings(prediction: _Prediction) -> list[Finding]:
    findings = []
    for label, probability, threshold in zip(prediction.labels, prediction.probabilities, prediction.thresholds,
                                             strict=True):
        flagged = prediction.may_flag and bool(probability >= threshold)
        findings.append(Finding(code=f"cxr-{label.lower()}", label=label.replace("_", " "),
                                label_zh=LABELS_ZH.get(label, label), probability=round(float(probability), 4),
                                threshold=threshold, flagged=flagged, critical=flagged and label in _CRITICAL,
                                source="model", evidence="" if prediction.may_flag else _NOT_VALIDATED))
    return sorted(findings, key=lambda f: -(f.probability or 0.0))


def _result(image: CxrImage, quality: QualityReport, prediction: _Prediction | None,
            timings: dict[str, float]) -> PrereadResult:
    findings = list(quality.findings) + (_model_findings(prediction) if prediction else [])
    measurements: dict[str, Any] = {"quality": quality.to_json(), "sop_instance_uid": image.sop_instance_uid,
                                    "modality": image.modality, "view_position": image.view}
    if prediction:
        measurements["model"] = prediction.model
    zh, en = _texts(quality, findings)
    parameters = {"model": prediction.model if prediction else None, "quality_gate": "heuristics v0.1"}
    return PrereadResult(ALGORITHM, _version(), parameters, findings, measurements, zh, en, timings)


def _texts(quality: QualityReport, findings: Sequence[Finding]) -> tuple[str, str]:
    qc = [f for f in findings if f.source == "criteria" and f.flagged]
    model = [f for f in findings if f.source == "model" and f.flagged]
    if quality.verdict is not Verdict.OK:
        verdict_zh = "需重拍：" + "；".join(f.label_zh for f in qc)
        verdict_en = "Retake: " + "; ".join(f.label for f in qc)
    else:
        verdict_zh, verdict_en = "图像质量合格", "Image quality acceptable"
    if model:
        zh = "；".join(f"{f.label_zh}（{f.probability:.0%}）" for f in model)
        en = "; ".join(f"{f.label} ({f.probability:.0%})" for f in model)
    else:
        zh, en = "未提示异常", "no finding flagged"
    return (f"{PRELIMINARY_ZH}{verdict_zh}。AI 提示：{zh}。", f"{PRELIMINARY_EN} {verdict_en}. AI suggests: {en}.")

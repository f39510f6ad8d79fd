"""DICOM study summary pre-read: header facts and per-image statistics, with exposure warnings.

This is image quality control, not diagnosis.  Each image instance is decoded with pydicom,
the modality LUT (rescale) is applied, and these figures are reported:

- ``min``/``max``/``mean``/``std``/``p2``/``p98`` in modality units (e.g. HU for CT);
- ``dynamic_range``: ``(p98 - p2)`` of the stored values over the stored bit range
  (``2**BitsStored - 1``): how much of the detector range the central 96 % of pixels span;
- ``saturated_fraction``: the fraction of stored values at the limits of the bit range;
- ``display_mean`` and ``display_clipped_fraction``: after the VOI transform (window or VOI LUT,
  when the header has one) and with MONOCHROME1 inverted, the mean brightness (0 black, 1 white)
  and the fraction of pixels shown pure black or pure white.

For projection radiography (CR, DX, RG, MG) a very low dynamic range or a high saturated fraction
is flagged as a possible exposure problem.  An image that cannot be decoded (a missing codec) is
reported with the reason; the other images are still summarised.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pydicom
from pydicom.dataset import Dataset
from pydicom.pixels.processing import apply_modality_lut, apply_voi_lut

from pipelines.types import Finding, PrereadResult
from sharedcenter.ecg.detect import DICOM_ERRORS, parse_dicom
from sharedcenter.errors import InvalidInput
from sharedcenter.imaging.render import check_frame_size

__all__ = [
    "ALGORITHM",
    "LOW_DYNAMIC_RANGE",
    "PROJECTION_MODALITIES",
    "SATURATED_FRACTION",
    "VERSION",
    "summarize_study",
]

logger = logging.getLogger(__name__)

ALGORITHM = "sharedcenter.dicom-summary"
VERSION = "0.1.0"
PRELIMINARY_PREFIX_ZH = "【AI 预阅，仅供参考，须经医师审核】"
PRELIMINARY_PREFIX_EN = "[AI preliminary read - must be reviewed by a physician]"
#: Modalities whose exposure the rules judge (projection radiography).
PROJECTION_MODALITIES = frozenset({"CR", "DX", "RG", "MG"})
#: Below this dynamic range a projection image is flagged.
LOW_DYNAMIC_RANGE = 0.10
#: Above this saturated fraction a projection image is flagged.
SATURATED_FRACTION = 0.05


def summarize_study(instances: Sequence[bytes]) -> PrereadResult:
    """Summarise a DICOM study's headers and image statistics.

    Parameters
    ----------
    instances
        The study's instances as DICOM Part 10 bytes; not modified.

    Returns
    -------
    PrereadResult
        ``measurements`` holds ``study`` (header summary) and ``images`` (one entry per image
        instance: header facts, statistics or ``decoded: False`` with the ``reason``).

    Raises
    ------
    InvalidInput
        No instances, or an instance that is not parseable DICOM Part 10.
    """
    clock = [time.perf_counter()]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        datasets = [_parse(index, data) for index, data in enumerate(instances)]
        study = _study_summary(datasets)
        clock.append(time.perf_counter())
        images = [_image_summary(index, ds) for index, ds in enumerate(datasets) if "PixelData" in ds]
        clock.append(time.perf_counter())
    notes = sorted({str(warning.message) for warning in caught})
    for note in notes:
        logger.warning("DICOM study: %s", note)
    findings = _findings(images)
    text_zh, text_en = _texts(study, images, findings)
    clock.append(time.perf_counter())
    return PrereadResult(
        algorithm=ALGORITHM,
        version=VERSION,
        parameters=_parameters(),
        findings=findings,
        measurements={"study": study, "images": images, "warnings": notes},
        preliminary_text=text_zh,
        preliminary_text_en=text_en,
        timings={"parse_s": clock[1] - clock[0], "statistics_s": clock[2] - clock[1], "total_s": clock[3] - clock[0]},
    )


def _parse(index: int, data: bytes) -> Dataset:
    """Parse one instance; a bad one raises :class:`InvalidInput` naming its index."""
    try:
        return parse_dicom(data)
    except InvalidInput as exc:
        raise InvalidInput(f"instance {index}: {exc}") from exc


def _study_summary(datasets: Sequence[Dataset]) -> dict[str, Any]:
    """Study-level header facts."""
    if not datasets:
        raise InvalidInput("the study has no instances")
    try:
        return _study_facts(datasets)
    except DICOM_ERRORS as exc:  # pydicom reads values lazily: corruption surfaces on access
        raise InvalidInput(f"a study header is corrupt: {type(exc).__name__}: {exc}") from exc


def _study_facts(datasets: Sequence[Dataset]) -> dict[str, Any]:
    first = datasets[0]
    return {
        "patient_id": str(first.get("PatientID", "")),
        "study_instance_uid": str(first.get("StudyInstanceUID", "")),
        "study_description": str(first.get("StudyDescription", "")),
        "modalities": sorted({str(ds.get("Modality", "")) for ds in datasets} - {""}),
        "body_parts": sorted({str(ds.get("BodyPartExamined", "")) for ds in datasets} - {""}),
        "series_count": len({str(ds.get("SeriesInstanceUID", "")) for ds in datasets}),
        "instance_count": len(datasets),
        "image_count": sum("PixelData" in ds for ds in datasets),
    }


def _image_header(index: int, ds: Dataset) -> dict[str, Any]:
    """Per-image header facts."""
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    spacing = ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing")
    spacing_mm = [float(v) for v in spacing] if spacing else None
    return {
        "index": index,
        "sop_instance_uid": str(ds.get("SOPInstanceUID", "")),
        "series_instance_uid": str(ds.get("SeriesInstanceUID", "")),
        "modality": str(ds.get("Modality", "")),
        "view_position": str(ds.get("ViewPosition", "")),
        "rows": int(ds.get("Rows", 0)),
        "columns": int(ds.get("Columns", 0)),
        "frames": int(ds.get("NumberOfFrames", 1) or 1),
        "pixel_spacing_mm": spacing_mm if spacing_mm and min(spacing_mm) > 0 else None,
        "photometric_interpretation": str(ds.get("PhotometricInterpretation", "")),
        "bits_stored": int(ds.get("BitsStored", 0)),
        "transfer_syntax": str(syntax or ""),
        "transfer_syntax_name": syntax.name if syntax else "",
    }


def _image_summary(index: int, ds: Dataset) -> dict[str, Any]:
    """Header facts plus statistics, or ``decoded: False`` and the reason."""
    try:
        summary = _image_header(index, ds)
    except DICOM_ERRORS as exc:
        raise InvalidInput(f"instance {index} has a corrupt header: {type(exc).__name__}: {exc}") from exc
    try:
        check_frame_size(ds)  # before the codec: a 100k x 100k claim must not allocate 20 GB
    except InvalidInput as exc:
        return summary | {"decoded": False, "reason": str(exc)}
    try:
        return summary | {"decoded": True} | _statistics(ds.pixel_array, ds)
    except Exception as exc:  # any codec or pixel-module failure: report it, summarise the others
        logger.warning("image %d (%s) cannot be decoded: %s", index, summary["transfer_syntax_name"], exc)
        reason = f"{type(exc).__name__}: {exc}".strip()
        return summary | {"decoded": False, "reason": f"{summary['transfer_syntax_name']}: {reason}"}


def _statistics(stored: npt.NDArray[Any], ds: Dataset) -> dict[str, Any]:
    """Modality-unit statistics, stored-range dynamic range and saturation, display figures."""
    low, high = _stored_limits(ds, stored)
    stats: dict[str, Any] = {
        "dynamic_range": _dynamic_range(stored, low, high),
        "saturated_fraction": float(np.mean((stored <= low) | (stored >= high))),
    }
    if not _is_monochrome(ds):
        return stats | _describe(stored.astype(np.float64))
    values = np.asarray(apply_modality_lut(stored, ds), dtype=np.float64)
    limits = np.asarray(apply_modality_lut(np.array([low, high], dtype=stored.dtype), ds), dtype=np.float64)
    return stats | _describe(values) | _display(values, limits, ds)


def _is_monochrome(ds: Dataset) -> bool:
    photometric = str(ds.get("PhotometricInterpretation", ""))
    return int(ds.get("SamplesPerPixel", 1)) == 1 and photometric.startswith("MONOCHROME")


def _stored_limits(ds: Dataset, stored: npt.NDArray[Any]) -> tuple[float, float]:
    """The smallest and largest value the stored bits can hold."""
    bits = int(ds.get("BitsStored", 0)) or stored.dtype.itemsize * 8
    if int(ds.get("PixelRepresentation", 0)) == 1:
        return float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)
    return 0.0, float(2**bits - 1)


def _dynamic_range(stored: npt.NDArray[Any], low: float, high: float) -> float:
    p2, p98 = np.percentile(stored, [2, 98])
    return float((p98 - p2) / (high - low)) if high > low else 0.0


def _describe(values: npt.NDArray[np.float64]) -> dict[str, float]:
    p2, p98 = np.percentile(values, [2, 98])
    return {
        "min": float(values.min()),
        "max": float(values.max()),
        "mean": float(values.mean()),
        "std": float(values.std()),
        "p2": float(p2),
        "p98": float(p98),
    }


def _display(values: npt.NDArray[np.float64], limits: npt.NDArray[np.float64], ds: Dataset) -> dict[str, Any]:
    """Mean brightness (0 black, 1 white) and clipped fraction as displayed.

    ``limits`` are the modality values of the smallest and largest stored value; passed through the
    same VOI transform they give the darkest and brightest value the display can show.
    """
    has_voi = "WindowCenter" in ds or "VOILUTSequence" in ds
    if has_voi:
        values, limits = _apply_voi(values, ds), _apply_voi(limits, ds)
    dark, bright = float(limits.min()), float(limits.max())
    if bright <= dark:
        return {"display_mean": None, "display_clipped_fraction": None, "voi_applied": has_voi}
    shown = np.clip((values - dark) / (bright - dark), 0.0, 1.0)
    if ds.get("PhotometricInterpretation") == "MONOCHROME1":
        shown = 1.0 - shown
    return {
        "display_mean": float(shown.mean()),
        "display_clipped_fraction": float(np.mean((shown <= 0.0) | (shown >= 1.0))),
        "voi_applied": has_voi,
    }


def _apply_voi(values: npt.NDArray[np.float64], ds: Dataset) -> npt.NDArray[np.float64]:
    """``apply_voi_lut``; a VOI LUT table is indexed by integers, so those get rounded input."""
    if "VOILUTSequence" in ds:
        return np.asarray(apply_voi_lut(np.rint(values).astype(np.int64), ds), dtype=np.float64)
    return np.asarray(apply_voi_lut(values, ds), dtype=np.float64)


def _findings(images: Sequence[dict[str, Any]]) -> list[Finding]:
    """Rule-based findings: statistics computed, decode failures, exposure warnings."""
    decoded = [image for image in images if image["decoded"]]
    findings = [_statistics_finding(len(decoded), len(images))]
    failed = [image for image in images if not image["decoded"]]
    if failed:
        findings.append(
            Finding(
                code="image-not-decoded",
                label=f"{len(failed)} image(s) could not be decoded",
                label_zh=f"{len(failed)} 幅图像无法解码",
                flagged=True,
                evidence="; ".join(f"image {image['index']}: {image['reason']}" for image in failed),
            )
        )
    projection = [image for image in decoded if image["modality"] in PROJECTION_MODALITIES]
    findings.extend(_exposure_findings(projection))
    return findings


def _statistics_finding(decoded: int, total: int) -> Finding:
    if total == 0:
        return Finding("no-image", "No image pixel data in the study", "检查中无图像像素数据")
    return Finding(
        code="image-statistics",
        label=f"Image statistics computed for {decoded} of {total} image(s)",
        label_zh=f"已计算 {decoded}/{total} 幅图像的统计量",
        source="criteria",
    )


def _exposure_findings(images: Sequence[dict[str, Any]]) -> list[Finding]:
    """Possible exposure problems of projection images."""
    low = [image for image in images if image["dynamic_range"] < LOW_DYNAMIC_RANGE]
    saturated = [image for image in images if image["saturated_fraction"] > SATURATED_FRACTION]
    findings = []
    if low:
        evidence = "; ".join(f"image {i['index']}: dynamic range {i['dynamic_range']:.3f}" for i in low)
        findings.append(
            Finding(
                code="low-dynamic-range",
                label="Very low dynamic range (possible exposure problem)",
                label_zh="动态范围过低（可能存在曝光问题）",
                threshold=LOW_DYNAMIC_RANGE,
                flagged=True,
                evidence=evidence,
            )
        )
    if saturated:
        evidence = "; ".join(f"image {i['index']}: {i['saturated_fraction']:.1%} saturated" for i in saturated)
        findings.append(
            Finding(
                code="high-saturation",
                label="Many saturated pixels (possible exposure problem)",
                label_zh="饱和像素比例过高（可能存在曝光问题）",
                threshold=SATURATED_FRACTION,
                flagged=True,
                evidence=evidence,
            )
        )
    return findings


def _parameters() -> dict[str, Any]:
    return {
        "pydicom_version": pydicom.__version__,
        "projection_modalities": sorted(PROJECTION_MODALITIES),
        "low_dynamic_range": LOW_DYNAMIC_RANGE,
        "saturated_fraction": SATURATED_FRACTION,
        "dynamic_range": "(p98 - p2) of stored values / (2**BitsStored - 1)",
    }


def _texts(study: dict[str, Any], images: Sequence[dict[str, Any]], findings: Sequence[Finding]) -> tuple[str, str]:
    """Chinese and English preliminary text."""
    modality = "/".join(study["modalities"]) or "?"
    parts = "/".join(study["body_parts"]) or "未注明"
    views = "/".join(sorted({i["view_position"] for i in images} - {""})) or "未注明"
    head_zh = (
        f"检查：{modality}，部位 {parts}，{study['series_count']} 个序列 {study['instance_count']} 个实例，"
        f"{len(images)} 幅图像，体位 {views}。"
    )
    head_en = (
        f"Study: {modality}, body part {'/'.join(study['body_parts']) or 'not given'}, "
        f"{study['series_count']} series, {study['instance_count']} instances, {len(images)} images, "
        f"view {views if views != '未注明' else 'not given'}. "
    )
    flagged = [f for f in findings if f.flagged]
    zh = "；".join(f.label_zh for f in flagged) if flagged else "未提示图像质量问题"
    en = "; ".join(f.label for f in flagged) if flagged else "no image quality problem flagged"
    return (
        f"{PRELIMINARY_PREFIX_ZH}{head_zh}图像质控（非诊断）：{zh}。",
        f"{PRELIMINARY_PREFIX_EN} {head_en}Image quality check (not a diagnosis): {en}.",
    )

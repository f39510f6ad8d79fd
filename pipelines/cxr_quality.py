"""Quality gate of the chest radiograph pre-read: should the technician retake the image?

Checks, in order (each one a :class:`~pipelines.types.Finding` with Chinese and English text):

- **chest radiograph at all**: modality CR/DX, BodyPartExamined chest-like when given, at least
  64 px a side, an aspect ratio between 0.5 and 2, and not blank (display contrast);
- **view**: ViewPosition (PA/AP frontal, LL/RL/LATERAL lateral) and an image heuristic: a frontal
  chest shows two dark lung fields either side of a brighter mediastinum (``mediastinum_contrast``
  > 0) and is roughly mirror-symmetric;
- **lung bases cut off**: the lower lateral corners are as dark as the mid-lung fields;
- **rotation**: the two lung fields differ much in darkness (ratio of dark area, left vs right);
- **exposure/contrast**: display contrast (p98 - p2) too low, or a mean brightness far off.

The heuristics are screening aids, tuned by eye on the shared public images: a "retake" verdict is
advice to the technician, never a diagnosis.
"""

from __future__ import annotations

import dataclasses
import enum

import numpy as np
import numpy.typing as npt

from pipelines.cxr_image import CXR_MODALITIES, FRONTAL_VIEWS, LATERAL_VIEWS, CxrImage
from pipelines.types import Finding

__all__ = ["CHEST_BODY_PARTS", "QualityReport", "Verdict", "assess", "image_features"]

CHEST_BODY_PARTS = frozenset({"CHEST", "THORAX", "LUNG", "胸部", "CHEST_LAT", "PORT CHEST"})
MIN_SIDE = 64
LOW_CONTRAST = 0.2
ROTATION_RATIO = 1.8
FloatArray = npt.NDArray[np.float32]


class Verdict(enum.StrEnum):
    """Outcome of the gate."""

    OK = "ok"
    RETAKE = "retake"
    NOT_CHEST = "not_chest"


@dataclasses.dataclass(frozen=True, slots=True)
class QualityReport:
    """The gate's verdict, its view call, the image figures and the findings behind it."""

    verdict: Verdict
    view: str
    features: dict[str, float]
    findings: list[Finding]

    @property
    def frontal(self) -> bool:
        return self.view == "frontal"

    def to_json(self) -> dict[str, object]:
        return {"verdict": self.verdict.value, "view": self.view, "features": self.features,
                "reasons": [f.code for f in self.findings if f.flagged]}


def _grid(display: FloatArray, size: int = 64) -> FloatArray:
    rows = np.linspace(0, display.shape[0] - 1, size).astype(int)
    cols = np.linspace(0, display.shape[1] - 1, size).astype(int)
    return np.asarray(display[np.ix_(rows, cols)], dtype=np.float32)


def image_features(display: FloatArray) -> dict[str, float]:
    """Figures the gate decides on, from the display image (0 black .. 1 white)."""
    g = _grid(display)
    p2, p98 = np.percentile(g, [2, 98])
    band = g[16:44]
    left, centre, right = band[:, 8:24].mean(), band[:, 28:36].mean(), band[:, 40:56].mean()
    dark = g < np.percentile(g[12:52, 6:58], 35)
    dark_left, dark_right = dark[12:52, 6:30].mean(), dark[12:52, 34:58].mean()
    corners = np.concatenate([g[58:, 4:20].ravel(), g[58:, 44:60].ravel()]).mean()
    return {
        "contrast": float(p98 - p2),
        "mean": float(g.mean()),
        "mediastinum_contrast": float(centre - (left + right) / 2),
        "symmetry": float(np.corrcoef(g[8:56].ravel(), g[8:56, ::-1].ravel())[0, 1]) if g.std() > 0 else 0.0,
        "rotation_ratio": float(max(dark_left, dark_right) / max(min(dark_left, dark_right), 1e-3)),
        "bases_darkness": float((left + right) / 2 - corners),
        "aspect": float(display.shape[1] / max(display.shape[0], 1)),
    }


def _finding(code: str, en: str, zh: str, evidence: str = "") -> Finding:
    return Finding(code=f"qc-{code}", label=en, label_zh=zh, flagged=True, source="criteria", evidence=evidence)


def _chest_problems(image: CxrImage, f: dict[str, float]) -> list[Finding]:
    rows, cols = image.display.shape
    problems = []
    if image.modality not in CXR_MODALITIES:
        problems.append(_finding("not-radiograph", f"Not a chest radiograph: modality {image.modality or '?'}",
                                 f"非胸部X线片：设备类型 {image.modality or '?'}"))
    if image.body_part and image.body_part not in CHEST_BODY_PARTS:
        problems.append(_finding("body-part", f"Body part is {image.body_part}, not chest",
                                 f"检查部位为 {image.body_part}，不是胸部"))
    if min(rows, cols) < MIN_SIDE or not 0.5 <= f["aspect"] <= 2.0:
        problems.append(_finding("image-size", f"Image of {cols}x{rows} px cannot be a chest radiograph",
                                 f"图像 {cols}x{rows} 像素，不可能是胸片"))
    elif f["contrast"] < 0.02:
        problems.append(_finding("blank", "The image is blank", "图像为空白"))
    return problems


def _view(image: CxrImage, f: dict[str, float]) -> str:
    if image.view in FRONTAL_VIEWS:
        return "frontal"
    if image.view in LATERAL_VIEWS:
        return "lateral"
    return "frontal" if f["mediastinum_contrast"] > 0 and f["symmetry"] > 0.5 else "lateral"


def _retake_problems(view: str, f: dict[str, float]) -> list[Finding]:
    problems = []
    if view != "frontal":
        problems.append(_finding("not-frontal", "No frontal (PA/AP) chest view: retake a PA view",
                                 "非正位（PA/AP）胸片：请重拍后前位"))
        return problems
    if f["contrast"] < LOW_CONTRAST:
        problems.append(_finding("exposure", "Low contrast (over- or under-exposed): check exposure and retake",
                                 "对比度过低（曝光过度或不足）：请调整曝光后重拍", f"contrast {f['contrast']:.2f}"))
    if f["bases_darkness"] > 0.0 and f["mediastinum_contrast"] > 0:
        problems.append(_finding("bases-cut", "Lung bases may be cut off: include the costophrenic angles",
                                 "肺底可能未包全：请包括肋膈角重拍", f"bases darkness {f['bases_darkness']:.2f}"))
    if f["rotation_ratio"] > ROTATION_RATIO:
        problems.append(_finding("rotation", "Possible patient rotation: lung fields asymmetric",
                                 "患者可能旋转：两侧肺野不对称", f"ratio {f['rotation_ratio']:.2f}"))
    return problems


def assess(image: CxrImage) -> QualityReport:
    """The quality verdict for one decoded image."""
    features = image_features(image.display)
    chest = _chest_problems(image, features)
    if chest:
        return QualityReport(Verdict.NOT_CHEST, "unknown", features, chest)
    view = _view(image, features)
    problems = _retake_problems(view, features)
    return QualityReport(Verdict.RETAKE if problems else Verdict.OK, view, features, problems)

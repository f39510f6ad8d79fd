"""The region's recognition rules, read from a TOML file (``SHAREDCENTER_RECOGNITION_RULES_FILE``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import tomllib
from pathlib import Path
from typing import Any

from sharedcenter.db.models import Study
from sharedcenter.enums import ExamType, StudyKind
from sharedcenter.errors import ImproperlyConfigured

__all__ = ["ExamRule", "RecognitionRules", "exam_code", "load_rules"]

_CHEST_MODALITIES = {"CR", "DX", "DR"}


@dataclasses.dataclass(frozen=True, slots=True)
class ExamRule:
    """How one exam type is recognized."""

    code: str
    name: str
    recognized: bool
    centers: frozenset[str]
    reference_period: dt.timedelta
    qc_required: bool

    def allows_center(self, center_code: str) -> bool:
        return "*" in self.centers or center_code in self.centers


@dataclasses.dataclass(frozen=True, slots=True)
class RecognitionRules:
    """Every exam rule, the centers that passed QC, and the accepted reasons for a repeat."""

    exams: dict[str, ExamRule]
    qc_passed_centers: frozenset[str]
    repeat_reasons: dict[str, str]

    def rule_for(self, exam: str) -> ExamRule | None:
        return self.exams.get(exam)

    def center_passed_qc(self, center_code: str) -> bool:
        return "*" in self.qc_passed_centers or center_code in self.qc_passed_centers

    def recognizable(self, exam: str, center_code: str) -> bool:
        """Whether a signed ``exam`` from ``center_code`` enters the registry (before QC review)."""
        rule = self.rule_for(exam)
        if rule is None or not rule.recognized or not rule.allows_center(center_code):
            return False
        return not rule.qc_required or self.center_passed_qc(center_code)


def _rule(code: str, raw: dict[str, Any]) -> ExamRule:
    try:
        return ExamRule(code=code, name=str(raw["name"]), recognized=bool(raw["recognized"]),
                        centers=frozenset(str(c) for c in raw["centers"]),
                        reference_period=dt.timedelta(days=float(raw["reference_days"])),
                        qc_required=bool(raw.get("qc_required", True)))
    except (KeyError, TypeError, ValueError) as exc:
        raise ImproperlyConfigured(f"recognition rule [exams.{code}]: missing or invalid {exc}") from exc


def load_rules(path: Path) -> RecognitionRules:
    """Read and check the rules file.

    Raises
    ------
    ImproperlyConfigured
        The file is missing, not TOML, or a rule lacks a field.
    """
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ImproperlyConfigured(f"recognition rules {path}: {exc}") from exc
    exams = {code: _rule(code, body) for code, body in raw.get("exams", {}).items()}
    reasons = {str(k): str(v) for k, v in raw.get("repeat_reasons", {}).items()}
    if not reasons:
        raise ImproperlyConfigured(f"recognition rules {path}: [repeat_reasons] is empty")
    passed = frozenset(str(c) for c in raw.get("qc", {}).get("passed_centers", []))
    return RecognitionRules(exams=exams, qc_passed_centers=passed, repeat_reasons=reasons)


def exam_code(study: Study) -> str:
    """The exam type of a study: its order's, else chest X-ray for CR/DX, ECG for ECGs."""
    if study.order is not None:
        return study.order.exam
    if study.kind == StudyKind.ECG.value:
        return ExamType.ECG_12LEAD.value
    if study.modality.upper() in _CHEST_MODALITIES:
        return ExamType.CHEST_XRAY.value
    return ExamType.OTHER_IMAGING.value

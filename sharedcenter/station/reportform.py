"""The report editor's structured form per exam, pre-filled from the AI pre-read (marked as AI).

Templates and the phrase library are data (``sharedcenter/data/report_templates.json`` and
``phrases.json``).  A field whose value comes from an AIResult carries ``"ai": true`` so the page
can mark it until the reader edits it; the AI preliminary text itself is offered as a note, still
labelled 【AI 预阅】.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from sharedcenter.db.models import AIResult, Study
from sharedcenter.enums import ExamType, ReportStatus, StudyKind

__all__ = ["compose_findings", "exam_of", "load_phrases", "load_templates", "report_form"]

_DATA = Path(__file__).resolve().parents[1] / "data"
_QUALITY_ALGORITHM = "sharedcenter.ecg-quality"
_CHEST = {"CR", "DX", "DR"}


@functools.cache
def load_templates() -> dict[str, Any]:
    """The structured report templates, by exam code."""
    data: dict[str, Any] = json.loads((_DATA / "report_templates.json").read_text(encoding="utf-8"))
    return data


@functools.cache
def load_phrases() -> dict[str, Any]:
    """The phrase library, by exam code."""
    data: dict[str, Any] = json.loads((_DATA / "phrases.json").read_text(encoding="utf-8"))
    return data


def exam_of(study: Study) -> str:
    """The template a study uses: its order's exam, else ECG / chest X-ray (CR, DX) / other imaging."""
    if study.order is not None and study.order.exam in load_templates():
        return study.order.exam
    if study.kind == StudyKind.ECG.value:
        return ExamType.ECG_12LEAD.value
    return ExamType.CHEST_XRAY.value if study.modality.upper() in _CHEST else ExamType.OTHER_IMAGING.value


def _latest_ai(study: Study) -> AIResult | None:
    rows = [r for r in study.ai_results if r.algorithm != _QUALITY_ALGORITHM]
    return rows[-1] if rows else None


def _ai_value(ai: AIResult | None, key: str | None) -> str | None:
    if ai is None or not key:
        return None
    value = ai.measurements.get(key)
    if value is None or isinstance(value, (dict, list)):
        return None
    return f"{value:.0f}" if isinstance(value, float) else str(value)


def _field(spec: dict[str, Any], ai: AIResult | None) -> dict[str, Any]:
    value = _ai_value(ai, spec.get("ai"))
    return {"key": spec["key"], "zh": spec["zh"], "en": spec["en"], "ai": value is not None,
            "value": value if value is not None else spec.get("default", "")}


def _draft(study: Study) -> dict[str, Any] | None:
    draft = next((r for r in study.reports if r.status == ReportStatus.DRAFT.value), None)
    if draft is None:
        return None
    return {"id": draft.id, "version": draft.version, "findings": draft.findings, "impression": draft.impression}


def report_form(study: Study) -> dict[str, Any]:
    """The editor's content: template fields (AI-filled where the pre-read measured them), the AI
    findings and preliminary text (marked automatic), and an open draft if there is one."""
    exam = exam_of(study)
    template = load_templates()[exam]
    ai = _latest_ai(study)
    return {
        "exam": exam, "name_zh": template["name_zh"], "name_en": template["name_en"],
        "fields": [_field(spec, ai) for spec in template["fields"]],
        "impression": template.get("impression_default", ""),
        "ai": None if ai is None else {
            "algorithm": ai.algorithm, "version": ai.algorithm_version, "automatic": True, "preliminary": True,
            "critical": ai.critical, "findings": ai.findings, "text": ai.preliminary_text,
            "measurements": {k: v for k, v in ai.measurements.items() if not isinstance(v, (dict, list))},
        },
        "draft": _draft(study),
        "phrases": load_phrases().get(exam, []),
    }


def compose_findings(fields: list[tuple[str, str]]) -> str:
    """The findings text of a report from its (label, value) pairs; empty values are left out."""
    return "\n".join(f"{label}：{value.strip()}" for label, value in fields if value.strip())

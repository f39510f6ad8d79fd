"""Mutual recognition of examination results (检查检验结果互认): rules and the registry."""

from sharedcenter.recognition.rules import ExamRule, RecognitionRules, exam_code, load_rules
from sharedcenter.recognition.service import (
    Decision,
    RecognizedResult,
    add_institution,
    authenticate_institution,
    decision_report,
    find_recognized,
    record_decision,
    register_report,
    suspend_report,
    withdraw_reports,
)

__all__ = [
    "Decision",
    "ExamRule",
    "RecognitionRules",
    "RecognizedResult",
    "add_institution",
    "authenticate_institution",
    "decision_report",
    "exam_code",
    "find_recognized",
    "load_rules",
    "record_decision",
    "register_report",
    "suspend_report",
    "withdraw_reports",
]

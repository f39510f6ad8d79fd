"""Coded values used across sharedcenter (PEP 8 names, string values stored in the database)."""

from __future__ import annotations

import enum

__all__ = [
    "AuditAction",
    "CenterKind",
    "ExamType",
    "OrderStatus",
    "PrereadReason",
    "Priority",
    "ReportStatus",
    "Role",
    "StudyKind",
    "StudyState",
]


class Role(enum.StrEnum):
    TECHNICIAN = "technician"
    RADIOLOGIST = "radiologist"
    CARDIOLOGIST = "cardiologist"
    QC = "qc"
    ADMIN = "admin"


class CenterKind(enum.StrEnum):
    IMAGING = "imaging"
    ECG = "ecg"
    CITY = "city"


class StudyKind(enum.StrEnum):
    DICOM = "dicom"
    ECG = "ecg"


class ExamType(enum.StrEnum):
    CHEST_XRAY = "cxr"
    ECG_12LEAD = "ecg12"
    OTHER_IMAGING = "imaging"


class Priority(enum.StrEnum):
    """Order priority; the worklist sorts STAT first."""

    STAT = "stat"
    URGENT = "urgent"
    ROUTINE = "routine"

    @property
    def rank(self) -> int:
        return {"stat": 0, "urgent": 1, "routine": 2}[self.value]


class OrderStatus(enum.StrEnum):
    """Where an order (申请单) stands: scheduled on the worklist, being taken, done, or called off."""

    SCHEDULED = "scheduled"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class PrereadReason(enum.StrEnum):
    """Why a study's pre-read was queued: the sender said so, its order's count arrived, or it went quiet."""

    DECLARED = "declared"
    EXPECTED_COUNT = "expected_count"
    STABLE = "stable"


class StudyState(enum.StrEnum):
    RECEIVED = "received"
    PREREADING = "prereading"
    PREREAD = "preread"
    IN_REVIEW = "in_review"
    SIGNED = "signed"
    RETURNED = "returned"
    ESCALATED = "escalated"
    FAILED = "failed"


class ReportStatus(enum.StrEnum):
    DRAFT = "draft"
    SIGNED = "signed"
    SUPERSEDED = "superseded"


class AuditAction(enum.StrEnum):
    STUDY_RECEIVED = "study.received"
    STUDY_INSTANCES_ADDED = "study.instances_added"
    STUDY_DUPLICATE = "study.duplicate"
    STUDY_TRANSITION = "study.transition"
    PREREAD_QUEUED = "preread.queued"
    ORDER_CREATED = "order.created"
    ORDER_CANCELLED = "order.cancelled"
    ORDER_MATCHED = "order.matched"
    PREREAD_STARTED = "preread.started"
    PREREAD_STORED = "preread.stored"
    PREREAD_FAILED = "preread.failed"
    STUDY_CRITICAL_NOTIFIED = "study.critical_notified"
    REPORT_SIGNED = "report.signed"
    REPORT_DRAFTED = "report.drafted"
    REPORT_EXPORTED = "report.exported"
    REPORT_EXPORT_QUEUED = "report.export_queued"
    QC_SAMPLED = "qc.sampled"
    QC_REVIEWED = "qc.reviewed"
    WEBHOOK_ENDPOINT_ADDED = "webhook.endpoint_added"
    USER_LOGIN = "user.login"
    USER_LOGIN_FAILED = "user.login_failed"
    TOKEN_CREATED = "token.created"
    REGION_LOADED = "region.loaded"
    ACCESS_DENIED = "access.denied"

"""What the API returns: plain JSON shapes built from the records."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field

from sharedcenter.db.models import AIResult, Report, Study

__all__ = [
    "QcReviewIn",
    "QcReviewOut",
    "WebhookEndpointIn",
    "WebhookEndpointOut",
    "AIResultOut",
    "DecisionIn",
    "DraftIn",
    "LoginIn",
    "RecognizedOut",
    "ReportIn",
    "ReportOut",
    "StudyOut",
    "ai_out",
    "report_out",
    "study_out",
]


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class ReportIn(BaseModel):
    findings: str = Field(default="", max_length=20_000)
    impression: str = Field(min_length=1, max_length=20_000)
    amendment_reason: str | None = Field(default=None, max_length=2_000)


class DraftIn(BaseModel):
    """A report draft; ``amendment_reason`` is required to sign it when the study is signed already."""

    findings: str = Field(default="", max_length=20_000)
    impression: str = Field(min_length=1, max_length=20_000)
    amendment_reason: str | None = Field(default=None, max_length=2_000)


class DecisionIn(BaseModel):
    """A member hospital's decision on a recognized result."""

    entry_id: int
    decision: Literal["accepted", "repeated"]
    reason: str | None = Field(default=None, max_length=32)
    comment: str = Field(default="", max_length=2_000)


class RecognizedOut(BaseModel):
    entry_id: int
    report_id: int
    exam: str
    exam_name: str
    center_code: str
    mark: str
    signed_at: dt.datetime | None
    valid_until: dt.datetime
    verification_url: str
    study_reference: str


class AIResultOut(BaseModel):
    algorithm: str
    version: str
    automatic: bool = True
    preliminary: bool = True
    critical: bool
    findings: list[Any]
    measurements: dict[str, Any]
    preliminary_text: str
    timings: dict[str, Any]
    created_at: dt.datetime


class ReportOut(BaseModel):
    id: int
    study_id: int
    version: int
    status: str
    findings: str
    impression: str
    amendment_reason: str | None
    signed_by: str | None
    signed_at: dt.datetime | None
    pdf_url: str | None
    pdf_sha256: str | None
    content_sha256: str | None = None
    verification_url: str | None = None
    recognition_mark: str | None = None


class StudyOut(BaseModel):
    id: int
    kind: str
    state: str
    site_code: str
    center_code: str
    study_instance_uid: str | None
    ecg_record_key: str | None
    patient_id: str
    patient_name: str
    modality: str
    description: str
    instance_count: int
    complete: bool
    critical: bool
    priority: str
    due_at: dt.datetime
    received_at: dt.datetime
    error: str | None
    ai_results: list[AIResultOut] | None = None
    reports: list[ReportOut] | None = None


def ai_out(row: AIResult) -> AIResultOut:
    return AIResultOut(
        algorithm=row.algorithm, version=row.algorithm_version, critical=row.critical, findings=row.findings,
        measurements=row.measurements, preliminary_text=row.preliminary_text, timings=row.timings,
        created_at=row.created_at,
    )


def report_out(row: Report) -> ReportOut:
    return ReportOut(
        id=row.id, study_id=row.study_id, version=row.version, status=row.status, findings=row.findings,
        impression=row.impression, amendment_reason=row.amendment_reason,
        signed_by=row.signed_by.display_name if row.signed_by else None, signed_at=row.signed_at,
        pdf_url=f"/api/reports/{row.id}/pdf" if row.pdf_key else None, pdf_sha256=row.pdf_sha256,
        content_sha256=row.content_sha256, recognition_mark=row.recognition_mark,
        verification_url=f"/verify/{row.verification_id}" if row.verification_id else None,
    )


def study_out(row: Study, *, detail: bool = False) -> StudyOut:
    out = StudyOut(
        id=row.id, kind=row.kind, state=row.state, site_code=row.site_code, center_code=row.center_code,
        study_instance_uid=row.study_instance_uid, ecg_record_key=row.ecg_record_key,
        patient_id=row.patient_id, patient_name=row.patient_name, modality=row.modality,
        description=row.description, instance_count=row.instance_count, complete=row.complete,
        critical=row.critical, priority=row.priority, due_at=row.due_at, received_at=row.received_at,
        error=row.error,
    )
    if detail:
        out.ai_results = [ai_out(a) for a in row.ai_results]
        out.reports = [report_out(r) for r in row.reports]
    return out


class QcReviewIn(BaseModel):
    """A QC reviewer's verdict on a sampled report."""

    report_id: int
    verdict: Literal["agree", "minor", "major"]
    comment: str = Field(default="", max_length=4000)


class QcReviewOut(BaseModel):
    report_id: int
    study_id: int
    center_code: str
    version: int
    sampled_at: dt.datetime
    verdict: str | None
    comment: str
    reviewed_at: dt.datetime | None
    pdf_url: str | None


class WebhookEndpointIn(BaseModel):
    """A clinic system's webhook URL and the shared secret its signatures use."""

    site_code: str = Field(min_length=1, max_length=64)
    url: str = Field(min_length=8, max_length=500)
    secret: str = Field(min_length=16, max_length=128)


class WebhookEndpointOut(BaseModel):
    id: int
    site_code: str
    url: str
    active: bool

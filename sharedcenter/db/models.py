"""The database records (SQLAlchemy 2, typed).  Schema changes go through Alembic migrations."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    inspect,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from sharedcenter.enums import OrderStatus, ReportStatus, StudyState
from sharedcenter.errors import ReportLocked, StudyClaimed

__all__ = [
    "AIResult",
    "ApiToken",
    "AuditEvent",
    "Base",
    "Center",
    "Consultation",
    "Institution",
    "InstitutionToken",
    "Order",
    "QcReview",
    "RecognitionDecision",
    "RecognitionEntry",
    "Report",
    "SigningCertificate",
    "Site",
    "Study",
    "SyncCursor",
    "User",
    "WebhookDelivery",
    "WebhookEndpoint",
    "utcnow",
]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: DateTime(timezone=True), dict[str, Any]: JSON, list[Any]: JSON}


class Center(Base):
    """A reading center: a county imaging or ECG center, or the city center."""

    __tablename__ = "centers"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    county_code: Mapped[str | None] = mapped_column(String(64))
    ae_title: Mapped[str | None] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Site(Base):
    """A township clinic (or any sending site) and the centers that read its studies."""

    __tablename__ = "sites"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    county_code: Mapped[str] = mapped_column(String(64))
    ae_title: Mapped[str] = mapped_column(String(16), unique=True)
    imaging_center_code: Mapped[str] = mapped_column(ForeignKey("centers.code"))
    ecg_center_code: Mapped[str] = mapped_column(ForeignKey("centers.code"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    site_code: Mapped[str | None] = mapped_column(ForeignKey("sites.code"))
    center_code: Mapped[str | None] = mapped_column(ForeignKey("centers.code"))
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column()
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)

    user: Mapped[User] = relationship()


class Order(Base):
    """申请单: what the requesting site asks the center to read."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("site_code", "accession_number", name="uq_orders_site_accession"),
        Index("ix_orders_worklist", "site_code", "status", "scheduled_at"),
        Index("ix_orders_patient", "site_code", "patient_id", "exam"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: unique within the requesting site (two townships may number their orders alike)
    accession_number: Mapped[str | None] = mapped_column(String(64))
    patient_id: Mapped[str] = mapped_column(String(64))
    patient_name: Mapped[str] = mapped_column(String(200), default="")
    site_code: Mapped[str] = mapped_column(ForeignKey("sites.code"))
    exam: Mapped[str] = mapped_column(String(16))
    clinical_question: Mapped[str] = mapped_column(Text, default="")
    priority: Mapped[str] = mapped_column(String(16))
    requested_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    due_at: Mapped[dt.datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default=OrderStatus.SCHEDULED.value)
    modality: Mapped[str] = mapped_column(String(16), default="")
    scheduled_at: Mapped[dt.datetime | None] = mapped_column()
    station_ae_title: Mapped[str | None] = mapped_column(String(16))
    patient_birth_date: Mapped[dt.date | None] = mapped_column(Date)
    patient_sex: Mapped[str] = mapped_column(String(1), default="")
    procedure_description: Mapped[str] = mapped_column(String(200), default="")
    #: instances the study will have; when that many arrived the pre-read starts without waiting
    expected_instances: Mapped[int | None] = mapped_column(Integer)
    #: the actor who placed the order (``user:NAME``), or the system when a study made it
    created_by: Mapped[str] = mapped_column(String(100), default="system")


class Study(Base):
    """One imaging study or one ECG recording, and where it is in its reading."""

    __tablename__ = "studies"
    __table_args__ = (
        Index("ix_studies_worklist", "center_code", "state", "critical", "priority_rank", "due_at"),
        Index("ix_studies_site", "site_code", "received_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(16), default=StudyState.RECEIVED.value)
    site_code: Mapped[str] = mapped_column(ForeignKey("sites.code"))
    center_code: Mapped[str] = mapped_column(ForeignKey("centers.code"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    study_instance_uid: Mapped[str | None] = mapped_column(String(64), unique=True)
    ecg_record_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    patient_id: Mapped[str] = mapped_column(String(64), default="")
    patient_name: Mapped[str] = mapped_column(String(200), default="")
    modality: Mapped[str] = mapped_column(String(16), default="")
    description: Mapped[str] = mapped_column(String(200), default="")
    instance_count: Mapped[int] = mapped_column(Integer, default=0)
    complete: Mapped[bool] = mapped_column(Boolean, default=False)
    critical: Mapped[bool] = mapped_column(Boolean, default=False)
    priority: Mapped[str] = mapped_column(String(16))
    priority_rank: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[dt.datetime] = mapped_column()
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    source: Mapped[str] = mapped_column(String(16), default="upload")
    error: Mapped[str | None] = mapped_column(Text)
    #: the reader holding the study's reading lease (issue 6), until ``claimed_until``
    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", name="fk_studies_claimed_by_id"))
    claimed_until: Mapped[dt.datetime | None] = mapped_column()
    #: why a specialist sent the study back to the site for a retake
    returned_reason: Mapped[str | None] = mapped_column(Text)

    order: Mapped[Order | None] = relationship()
    ai_results: Mapped[list[AIResult]] = relationship(back_populates="study", order_by="AIResult.id")
    reports: Mapped[list[Report]] = relationship(back_populates="study", order_by="Report.version")


class AIResult(Base):
    """An automatic pre-read: always preliminary, never a report by itself."""

    __tablename__ = "ai_results"
    __table_args__ = (UniqueConstraint("study_id", "algorithm", "algorithm_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"))
    algorithm: Mapped[str] = mapped_column(String(100))
    algorithm_version: Mapped[str] = mapped_column(String(32))
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    findings: Mapped[list[Any]] = mapped_column(default=list)
    measurements: Mapped[dict[str, Any]] = mapped_column(default=dict)
    preliminary_text: Mapped[str] = mapped_column(Text, default="")
    timings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    critical: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    study: Mapped[Study] = relationship(back_populates="ai_results")


class Report(Base):
    """One version of a study's report; a signed version never changes."""

    __tablename__ = "reports"
    __table_args__ = (UniqueConstraint("study_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=ReportStatus.DRAFT.value)
    findings: Mapped[str] = mapped_column(Text, default="")
    impression: Mapped[str] = mapped_column(Text, default="")
    amendment_reason: Mapped[str | None] = mapped_column(Text)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    signed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    signed_at: Mapped[dt.datetime | None] = mapped_column()
    pdf_key: Mapped[str | None] = mapped_column(String(200))
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: the unguessable id in the QR code's verification URL (``/verify/{id}``)
    verification_id: Mapped[str | None] = mapped_column(String(32), unique=True, index=True)
    #: SHA-256 of the signed content (canonical JSON of what the report states)
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    signing_certificate_id: Mapped[int | None] = mapped_column(
        ForeignKey("signing_certificates.id", name="fk_reports_signing_certificate_id")
    )
    #: the recognition mark printed on the PDF (e.g. ``"HR"``), or None when not recognized at signing
    recognition_mark: Mapped[str | None] = mapped_column(String(32))
    pdf_sop_instance_uid: Mapped[str | None] = mapped_column(String(64))
    sr_sop_instance_uid: Mapped[str | None] = mapped_column(String(64))

    study: Mapped[Study] = relationship(back_populates="reports")
    author: Mapped[User] = relationship(foreign_keys=[author_id])
    signed_by: Mapped[User | None] = relationship(foreign_keys=[signed_by_id])


class AuditEvent(Base):
    """Who did what to which record, when; rows are only ever added."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_study", "study_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str] = mapped_column(String(64))
    study_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    correlation_id: Mapped[str | None] = mapped_column(String(64))


class SyncCursor(Base):
    """A named position in an external change feed (e.g. Orthanc's ``/changes``)."""

    __tablename__ = "sync_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SigningCertificate(Base):
    """A specialist's X.509 signing certificate; the private key lives encrypted in a 0600 file."""

    __tablename__ = "signing_certificates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    serial: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(400))
    issuer: Mapped[str] = mapped_column(String(400))
    fingerprint_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    cert_pem: Mapped[str] = mapped_column(Text)
    key_path: Mapped[str] = mapped_column(String(500))
    not_before: Mapped[dt.datetime] = mapped_column()
    not_after: Mapped[dt.datetime] = mapped_column()
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Institution(Base):
    """A member hospital that looks up recognized results (检查检验结果互认)."""

    __tablename__ = "institutions"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class InstitutionToken(Base):
    """An institution's API token; only its SHA-256 is stored."""

    __tablename__ = "institution_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    institution_code: Mapped[str] = mapped_column(ForeignKey("institutions.code"))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class RecognitionEntry(Base):
    """A signed report version offered for mutual recognition until ``valid_until``."""

    __tablename__ = "recognition_entries"
    __table_args__ = (Index("ix_recognition_patient", "patient_id", "exam"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), unique=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"))
    patient_id: Mapped[str] = mapped_column(String(64))
    exam: Mapped[str] = mapped_column(String(16))
    center_code: Mapped[str] = mapped_column(ForeignKey("centers.code"))
    mark: Mapped[str] = mapped_column(String(32))
    recognized_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    valid_until: Mapped[dt.datetime] = mapped_column()
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    suspended_reason: Mapped[str | None] = mapped_column(Text)

    report: Mapped[Report] = relationship()


class RecognitionDecision(Base):
    """A member hospital accepted a recognized result, or repeated the exam and said why."""

    __tablename__ = "recognition_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("recognition_entries.id"), index=True)
    institution_code: Mapped[str] = mapped_column(ForeignKey("institutions.code"))
    decision: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32))
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class QcReview(Base):
    """A signed report sampled for peer review, and the reviewer's verdict."""

    __tablename__ = "qc_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), unique=True)
    sampled_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    verdict: Mapped[str | None] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(Text, default="")
    reviewed_at: Mapped[dt.datetime | None] = mapped_column()

    report: Mapped[Report] = relationship()


class WebhookEndpoint(Base):
    """A clinic system's URL that receives report events, signed with its shared secret."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_code: Mapped[str] = mapped_column(ForeignKey("sites.code"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(128))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class WebhookDelivery(Base):
    """One event for one endpoint, retried until the endpoint acknowledges it with a 2xx."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id"), index=True)
    event: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)


#: bookkeeping of the DICOM export, filled once after signing (the export may be retried later)
_EXPORT_UIDS = frozenset({"pdf_sop_instance_uid", "sr_sop_instance_uid"})


def _fills_export_uid(key: str, old: Any) -> bool:
    return key in _EXPORT_UIDS and not any(v is not None for v in (old or []))


class Consultation(Base):
    """A county specialist's question about a study to the city center, and the city expert's answer."""

    __tablename__ = "consultations"
    __table_args__ = (Index("ix_consultations_center_open", "center_code", "answered_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    center_code: Mapped[str] = mapped_column(ForeignKey("centers.code"))
    asked_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    question: Mapped[str] = mapped_column(Text)
    asked_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[dt.datetime | None] = mapped_column()

    study: Mapped[Study] = relationship()
    asked_by: Mapped[User] = relationship(foreign_keys=[asked_by_id])
    answered_by: Mapped[User | None] = relationship(foreign_keys=[answered_by_id])


def _aware(value: dt.datetime) -> dt.datetime:
    """SQLite drops the zone; values are stored in UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


_CLAIM_GUARDED = ("report.drafted", "report.signed")


@event.listens_for(Session, "before_flush")
def _refuse_work_on_claimed_studies(session: Session, _ctx: object, _instances: object) -> None:
    """Nobody drafts or signs a report of a study another reader holds the lease on.

    Every draft and signature writes an audit event naming its actor and study in the same
    transaction, so the check here covers every path (station, API, CLI) without knowing them.
    """
    for obj in list(session.new):
        if not isinstance(obj, AuditEvent) or obj.action not in _CLAIM_GUARDED or obj.study_id is None:
            continue
        with session.no_autoflush:
            study = session.get(Study, obj.study_id)
            if study is None or study.claimed_by_id is None or study.claimed_until is None:
                continue
            if _aware(study.claimed_until) <= utcnow():
                continue
            holder = session.get(User, study.claimed_by_id)
        if holder is not None and obj.actor != f"user:{holder.username}":
            raise StudyClaimed(
                f"study {study.id} is being read by {holder.display_name} ({holder.username}) until "
                f"{_aware(study.claimed_until).isoformat(timespec='seconds')}; it cannot be "
                f"{obj.action.split('.')[1]} by someone else"
            )


@event.listens_for(Session, "before_flush")
def _refuse_signed_report_changes(session: Session, _ctx: object, _instances: object) -> None:
    """A signed report version never changes or disappears: the ORM refuses it before SQL runs.

    The only changes allowed to a signed row are ``status`` ``signed -> superseded`` when an
    amendment replaces it, and filling the DICOM export's SOP instance UIDs once (None -> UID);
    its content stays as signed.
    """
    for obj in list(session.dirty) + list(session.deleted):
        if not isinstance(obj, Report):
            continue
        state = inspect(obj)
        status_hist = state.attrs.status.history
        was_signed = ReportStatus.SIGNED.value in (status_hist.deleted or [obj.status])
        if not was_signed:
            continue
        if obj in session.deleted:
            raise ReportLocked(f"report {obj.id} (version {obj.version}) is signed and cannot be deleted")
        changed = [a.key for a in state.attrs if a.key != "status" and a.history.has_changes()
                   and not _fills_export_uid(a.key, a.history.deleted)]
        if changed or obj.status not in (ReportStatus.SIGNED.value, ReportStatus.SUPERSEDED.value):
            raise ReportLocked(
                f"report {obj.id} (version {obj.version}) is signed and cannot change "
                f"({', '.join(changed) or 'status'}); amend it with a new version"
            )

"""The recognition registry: signed reports offered to member hospitals, their look-ups and decisions."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
import secrets
from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from sharedcenter.db.models import (
    Institution,
    InstitutionToken,
    QcReview,
    RecognitionDecision,
    RecognitionEntry,
    Report,
    Study,
    utcnow,
)
from sharedcenter.errors import AuthenticationFailed, InvalidInput, NotFound
from sharedcenter.recognition.rules import RecognitionRules, exam_code, load_rules
from sharedcenter.services import Services

__all__ = [
    "Decision",
    "RecognizedResult",
    "add_institution",
    "authenticate_institution",
    "decision_report",
    "find_recognized",
    "record_decision",
    "register_report",
    "suspend_report",
    "withdraw_reports",
]

_TOKEN_PREFIX = "sci_"


class Decision(enum.StrEnum):
    """What a member hospital did with a recognized result."""

    ACCEPTED = "accepted"
    REPEATED = "repeated"


@dataclasses.dataclass(frozen=True, slots=True)
class RecognizedResult:
    """One valid recognized result as a member hospital sees it."""

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


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def register_report(services: Services, session: Session, study: Study, report: Report) -> RecognitionEntry | None:
    """Enter a signed report in the registry when its exam, center and QC state allow it."""
    rules = load_rules(services.settings.recognition_rules_file)
    exam = exam_code(study)
    rule = rules.rule_for(exam)
    if rule is None or report.recognition_mark is None or not rules.recognizable(exam, study.center_code):
        return None
    assert report.signed_at is not None
    entry = RecognitionEntry(report_id=report.id, study_id=study.id, patient_id=study.patient_id, exam=exam,
                             center_code=study.center_code, mark=report.recognition_mark,
                             recognized_at=report.signed_at,
                             valid_until=_aware(report.signed_at) + rule.reference_period)
    session.add(entry)
    session.flush()
    return entry


def withdraw_reports(session: Session, report_ids: list[int], reason: str) -> int:
    """Take the entries of ``report_ids`` out of the registry (e.g. superseded); returns how many."""
    if not report_ids:
        return 0
    entries = session.scalars(select(RecognitionEntry).where(RecognitionEntry.report_id.in_(report_ids),
                                                             RecognitionEntry.active.is_(True))).all()
    for entry in entries:
        entry.active, entry.suspended_reason = False, reason
    return len(entries)


def suspend_report(session: Session, report_id: int, reason: str) -> int:
    """A QC major discrepancy: the report loses recognition until an amendment replaces it."""
    return withdraw_reports(session, [report_id], reason)


def add_institution(session: Session, code: str, name: str) -> str:
    """Register a member hospital (or reuse it) and return a new API token for it (shown once)."""
    if not code.strip() or len(code) > 64:
        raise InvalidInput("code must be 1-64 characters")
    if session.get(Institution, code) is None:
        session.add(Institution(code=code, name=name))
    token = _TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(InstitutionToken(institution_code=code, token_sha256=hashlib.sha256(token.encode()).hexdigest()))
    session.flush()
    return token


def authenticate_institution(session: Session, token: str) -> Institution:
    """The active institution a token belongs to.

    Raises
    ------
    AuthenticationFailed
        Unknown, revoked or malformed token, or an inactive institution.
    """
    row = session.scalar(select(InstitutionToken).where(
        InstitutionToken.token_sha256 == hashlib.sha256(token.encode()).hexdigest()))
    institution = session.get(Institution, row.institution_code) if row is not None and not row.revoked else None
    if institution is None or not institution.active:
        raise AuthenticationFailed("unknown institution token")
    return institution


def find_recognized(services: Services, session: Session, patient_id: str, exam: str | None) -> list[RecognizedResult]:
    """The valid recognized results of a patient (of one exam type when given), newest first."""
    if not patient_id.strip():
        raise InvalidInput("patient must not be empty")
    rules = load_rules(services.settings.recognition_rules_file)
    query = select(RecognitionEntry).where(RecognitionEntry.patient_id == patient_id,
                                           RecognitionEntry.active.is_(True))
    if exam:
        query = query.where(RecognitionEntry.exam == exam)
    now = utcnow()
    base = services.settings.public_url.rstrip("/")
    out = []
    for entry in session.scalars(query.order_by(RecognitionEntry.recognized_at.desc())):
        if _aware(entry.valid_until) <= now or _has_major(session, entry.report_id):
            continue
        out.append(_result(entry, rules, base))
    return out


def _has_major(session: Session, report_id: int) -> bool:
    review = session.scalar(select(QcReview).where(QcReview.report_id == report_id))
    return review is not None and review.verdict == "major"


def _result(entry: RecognitionEntry, rules: RecognitionRules, base: str) -> RecognizedResult:
    report, rule = entry.report, rules.rule_for(entry.exam)
    study = report.study
    return RecognizedResult(
        entry_id=entry.id, report_id=report.id, exam=entry.exam, exam_name=rule.name if rule else entry.exam,
        center_code=entry.center_code, mark=entry.mark, signed_at=report.signed_at,
        valid_until=_aware(entry.valid_until), verification_url=f"{base}/verify/{report.verification_id}",
        study_reference=study.study_instance_uid or f"ecg:{study.ecg_record_key}",
    )


def record_decision(services: Services, session: Session, institution: Institution, entry_id: int,
                    decision: Decision | str, reason: str | None, comment: str = "") -> RecognitionDecision:
    """Record that ``institution`` accepted a result or repeated the exam (with one of the rules' reasons).

    Raises
    ------
    NotFound
        No such registry entry.
    InvalidInput
        A repeat without a listed reason, or ``other`` without a comment.
    """
    decision = Decision(decision)
    if session.get(RecognitionEntry, entry_id) is None:
        raise NotFound(f"no recognition entry {entry_id}")
    reasons = load_rules(services.settings.recognition_rules_file).repeat_reasons
    if decision is Decision.REPEATED and reason not in reasons:
        raise InvalidInput(f"reason must be one of {sorted(reasons)} when the exam was repeated")
    if reason == "other" and not comment.strip():
        raise InvalidInput("comment must say why when the reason is 'other'")
    row = RecognitionDecision(entry_id=entry_id, institution_code=institution.code, decision=decision.value,
                              reason=reason if decision is Decision.REPEATED else None, comment=comment)
    session.add(row)
    session.flush()
    return row


def decision_report(session: Session) -> dict[str, object]:
    """Counts of accepted and repeated results, repeats by reason, per institution."""
    rows = session.scalars(select(RecognitionDecision)).all()
    per_institution: dict[str, Counter[str]] = {}
    for row in rows:
        per_institution.setdefault(row.institution_code, Counter())[row.decision] += 1
    return {
        "total": len(rows),
        "accepted": sum(1 for r in rows if r.decision == Decision.ACCEPTED.value),
        "repeated": sum(1 for r in rows if r.decision == Decision.REPEATED.value),
        "repeat_reasons": dict(Counter(r.reason for r in rows if r.reason)),
        "institutions": {code: dict(counts) for code, counts in per_institution.items()},
    }

"""Returning a study for a retake, and escalating it to the city center as a consultation.

::

    preread / in_review --return (reason)--> returned      the clinic sees the reason and retakes
    preread / in_review --escalate (question)--> escalated  a city expert answers in the station
    escalated --answer--> in_review                         back on the county reader's worklist

City experts are users of a ``city`` center with the reading role of the study's kind.  They see
a study only through a consultation addressed to their center.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from sharedcenter.auth import Principal
from sharedcenter.claims import claim_study, release_study
from sharedcenter.db.models import Center, Consultation, Study, utcnow
from sharedcenter.enums import CenterKind, StudyState
from sharedcenter.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from sharedcenter.studies.query import get_visible_study
from sharedcenter.studies.state import transition

__all__ = [
    "answer_consultation",
    "escalate_study",
    "list_consultations",
    "return_for_retake",
    "study_for_station",
]

_MAX_TEXT = 4_000


def _text(name: str, value: str) -> str:
    value = value.strip()
    if not value:
        raise InvalidInput(f"{name} must not be empty")
    if len(value) > _MAX_TEXT:
        raise InvalidInput(f"{name} is longer than {_MAX_TEXT} characters")
    return value


def _is_city_expert(session: Session, principal: Principal) -> bool:
    center = session.get(Center, principal.center_code) if principal.center_code else None
    return center is not None and center.kind == CenterKind.CITY.value and principal.reads_kind() is not None


def study_for_station(session: Session, principal: Principal, study_id: int) -> Study:
    """The study as the station shows it: the caller's scope, or a consultation to the caller's city center.

    Raises
    ------
    NotFound
        No such study, or neither in scope nor consulted.
    """
    try:
        return get_visible_study(session, principal, study_id)
    except NotFound:
        if not _is_city_expert(session, principal):
            raise
    consulted = session.scalar(select(Consultation).join(Study).where(
        Consultation.study_id == study_id, Consultation.center_code == principal.center_code,
        Study.kind == principal.reads_kind()))
    if consulted is None:
        raise NotFound(f"no study {study_id}")
    return consulted.study


def _reader_study(session: Session, principal: Principal, study_id: int) -> Study:
    study = get_visible_study(session, principal, study_id)
    principal.require_reader(study.center_code, study.kind)
    return study


def return_for_retake(session: Session, principal: Principal, study_id: int, reason: str) -> Study:
    """Send the study back to its site for a retake; the reason is shown to the clinic.

    Raises
    ------
    InvalidTransition
        The study is signed, or returned already.
    StudyClaimed
        Another reader holds the study.
    InvalidInput
        An empty reason.
    """
    study = _reader_study(session, principal, study_id)
    reason = _text("reason", reason)
    claim_study(session, principal, study)
    transition(session, study, StudyState.RETURNED, principal.actor, reason)
    study.returned_reason = reason
    release_study(session, principal, study)
    return study


def _city_center(session: Session) -> Center:
    center = session.scalar(select(Center).where(Center.kind == CenterKind.CITY.value, Center.active.is_(True)))
    if center is None:
        raise NotFound("the region has no city center to consult")
    return center


def escalate_study(session: Session, principal: Principal, study_id: int, question: str) -> Consultation:
    """Ask the city center about the study; it stays on the county worklist, marked escalated.

    Raises
    ------
    InvalidTransition
        The study is signed or returned.
    Conflict
        A consultation on the study is still open.
    """
    study = _reader_study(session, principal, study_id)
    question = _text("question", question)
    open_one = session.scalar(select(Consultation).where(Consultation.study_id == study.id,
                                                         Consultation.answered_at.is_(None)))
    if open_one is not None:
        raise Conflict(f"study {study.id} has an open consultation ({open_one.id}) already")
    transition(session, study, StudyState.ESCALATED, principal.actor, question[:200])
    consultation = Consultation(study_id=study.id, center_code=_city_center(session).code,
                                asked_by_id=principal.user_id, question=question)
    session.add(consultation)
    session.flush()
    return consultation


def list_consultations(session: Session, principal: Principal, *, open_only: bool = True) -> list[Consultation]:
    """Consultations for the caller: addressed to their city center, or asked by them."""
    query = select(Consultation).join(Study).order_by(Consultation.asked_at, Consultation.id)
    if _is_city_expert(session, principal):
        query = query.where(Consultation.center_code == principal.center_code,
                            Study.kind == principal.reads_kind())
    elif not principal.sees_everything:
        query = query.where(Consultation.asked_by_id == principal.user_id)
    if open_only:
        query = query.where(Consultation.answered_at.is_(None))
    return list(session.scalars(query.limit(500)))


def answer_consultation(session: Session, principal: Principal, consultation_id: int, answer: str) -> Consultation:
    """A city expert answers; the study goes back to ``in_review`` for the county reader.

    Raises
    ------
    PermissionDenied
        The caller is not an expert of the consulted center for this kind of study.
    Conflict
        Answered already.
    """
    consultation = session.get(Consultation, consultation_id)
    if consultation is None:
        raise NotFound(f"no consultation {consultation_id}")
    if consultation.center_code != principal.center_code or consultation.study.kind != principal.reads_kind():
        raise PermissionDenied(f"{principal.username} may not answer consultation {consultation_id}")
    if consultation.answered_at is not None:
        raise Conflict(f"consultation {consultation_id} is answered already")
    consultation.answer = _text("answer", answer)
    consultation.answered_by_id, consultation.answered_at = principal.user_id, utcnow()
    if consultation.study.state == StudyState.ESCALATED.value:
        transition(session, consultation.study, StudyState.IN_REVIEW, principal.actor, "consultation answered")
    session.flush()
    return consultation

"""Reading leases: opening a study claims it for one reader for a while.

A claim is two columns of the study (``claimed_by_id``, ``claimed_until``).  Taking or renewing
one is a single conditional ``UPDATE`` (free, expired, or already mine), so two readers racing
for the same study cannot both win, on SQLite or PostgreSQL.  A lease that is not renewed simply
lapses: nothing has to clean it up.  While a lease holds, the database layer refuses drafts and
signatures by anyone else (:func:`sharedcenter.db.models._refuse_work_on_claimed_studies`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import and_, or_, update
from sqlalchemy.orm import Session

from sharedcenter.auth import Principal
from sharedcenter.db.models import Study, User, utcnow
from sharedcenter.errors import StudyClaimed

__all__ = ["DEFAULT_LEASE", "Claim", "claim_of", "claim_study", "release_study"]

#: how long one claim holds unless renewed (the station renews it every 2 minutes while open)
DEFAULT_LEASE = dt.timedelta(minutes=10)


@dataclasses.dataclass(frozen=True, slots=True)
class Claim:
    """Who holds a study's reading lease, and until when."""

    study_id: int
    username: str
    display_name: str
    until: dt.datetime

    def to_json(self) -> dict[str, str | int]:
        """The claim as a JSON object."""
        return {"study_id": self.study_id, "username": self.username, "display_name": self.display_name,
                "until": self.until.isoformat()}


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def claim_of(session: Session, study: Study, now: dt.datetime | None = None) -> Claim | None:
    """The study's live claim (None when nobody holds it or the lease has lapsed)."""
    if study.claimed_by_id is None or study.claimed_until is None:
        return None
    until = _aware(study.claimed_until)
    if until <= (now or utcnow()):
        return None
    user = session.get(User, study.claimed_by_id)
    if user is None:
        return None
    return Claim(study.id, user.username, user.display_name, until)


def claim_study(session: Session, principal: Principal, study: Study, lease: dt.timedelta = DEFAULT_LEASE) -> Claim:
    """Take or renew the reading lease on ``study`` for ``principal``.

    Parameters
    ----------
    lease
        How long the claim holds from now; between 10 seconds and 2 hours.

    Raises
    ------
    StudyClaimed
        Another reader holds a live lease on the study.
    ValueError
        ``lease`` is outside the allowed range.
    """
    if not dt.timedelta(seconds=10) <= lease <= dt.timedelta(hours=2):
        raise ValueError(f"lease must be between 10 s and 2 h, got {lease}")
    now = utcnow()
    free = or_(Study.claimed_by_id.is_(None), Study.claimed_by_id == principal.user_id,
               Study.claimed_until.is_(None), Study.claimed_until <= now)
    result = session.execute(
        update(Study).where(and_(Study.id == study.id, free))
        .values(claimed_by_id=principal.user_id, claimed_until=now + lease)
        .execution_options(synchronize_session=False)
    )
    session.refresh(study)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        holder = claim_of(session, study, now)
        who = f"{holder.display_name} ({holder.username})" if holder else "another reader"
        raise StudyClaimed(f"study {study.id} is being read by {who}")
    return Claim(study.id, principal.username, principal.display_name, now + lease)


def release_study(session: Session, principal: Principal, study: Study) -> bool:
    """Give the lease back; True when the caller held it (releasing someone else's does nothing)."""
    result = session.execute(
        update(Study).where(Study.id == study.id, Study.claimed_by_id == principal.user_id)
        .values(claimed_by_id=None, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    session.refresh(study)
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]

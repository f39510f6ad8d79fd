"""People: users, passwords (argon2), bearer tokens, and the scope every API call runs in."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from sharedcenter.audit import record_event
from sharedcenter.db import Database
from sharedcenter.db.models import ApiToken, Center, Site, User, utcnow
from sharedcenter.enums import AuditAction, CenterKind, Role, StudyKind
from sharedcenter.errors import AuthenticationFailed, InvalidInput, NotFound, PermissionDenied

__all__ = [
    "Principal",
    "authenticate_password",
    "authenticate_token",
    "create_user",
    "issue_token",
    "login",
    "set_password",
]

_hasher = PasswordHasher()
#: verified against when the user does not exist, so both failures take the same time
_DUMMY_HASH = _hasher.hash("not-a-real-password")
_READS = {Role.RADIOLOGIST: StudyKind.DICOM, Role.CARDIOLOGIST: StudyKind.ECG}
_CENTER_KIND = {Role.RADIOLOGIST: CenterKind.IMAGING, Role.CARDIOLOGIST: CenterKind.ECG}


@dataclasses.dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, and what they may see."""

    user_id: int
    username: str
    display_name: str
    role: Role
    site_code: str | None
    center_code: str | None

    @classmethod
    def of(cls, user: User) -> Principal:
        return cls(user.id, user.username, user.display_name, Role(user.role), user.site_code, user.center_code)

    @property
    def actor(self) -> str:
        return f"user:{self.username}"

    @property
    def sees_everything(self) -> bool:
        return self.role in (Role.ADMIN, Role.QC)

    def require_site(self, site_code: str) -> None:
        """Allow acting for ``site_code`` only for its own technicians and admins."""
        if self.role is Role.ADMIN or (self.role is Role.TECHNICIAN and self.site_code == site_code):
            return
        raise PermissionDenied(f"{self.username} ({self.role}) may not act for site {site_code!r}")

    def can_view_site(self, site_code: str) -> bool:
        return self.sees_everything or (self.role is Role.TECHNICIAN and self.site_code == site_code)

    def reads_kind(self) -> StudyKind | None:
        """The study kind this specialist reads (None: not a reading specialist)."""
        return _READS.get(self.role)

    def require_reader(self, center_code: str, kind: str) -> None:
        """Allow signing only for a specialist of the study's center who reads that kind of study."""
        if self.reads_kind() is None or self.reads_kind() != kind or self.center_code != center_code:
            raise PermissionDenied(
                f"{self.username} ({self.role}, center {self.center_code}) may not read {kind} studies "
                f"of center {center_code!r}"
            )


def _check_binding(session: Session, role: Role, site_code: str | None, center_code: str | None) -> None:
    if role is Role.TECHNICIAN:
        if not site_code or session.get(Site, site_code) is None:
            raise InvalidInput(f"a technician needs an existing site; got site {site_code!r}")
        if center_code:
            raise InvalidInput("a technician belongs to a site, not a center")
        return
    if site_code:
        raise InvalidInput(f"a {role} belongs to a center, not a site")
    center = session.get(Center, center_code) if center_code else None
    if role in _CENTER_KIND:
        if center is None or center.kind not in (_CENTER_KIND[role], CenterKind.CITY):
            raise InvalidInput(
                f"a {role} needs an existing {_CENTER_KIND[role]} (or city) center; got {center_code!r}"
            )
    elif center_code and center is None:
        raise InvalidInput(f"no center {center_code!r}")


def create_user(
    session: Session,
    username: str,
    password: str,
    role: Role | str,
    *,
    display_name: str = "",
    site_code: str | None = None,
    center_code: str | None = None,
) -> User:
    """Create a user bound to a site (technician) or a center (specialists, qc, admin).

    Raises
    ------
    InvalidInput
        Unknown role, a name already taken, a password under 8 characters, or a wrong binding.
    """
    try:
        role = Role(role)
    except ValueError:
        raise InvalidInput(f"role {role!r} is not one of {', '.join(r.value for r in Role)}") from None
    if not username or len(username) > 64 or not username.replace("_", "").replace(".", "").isalnum():
        raise InvalidInput(f"username {username!r} must be 1-64 letters, digits, '_' or '.'")
    if len(password) < 8:
        raise InvalidInput("password must have at least 8 characters")
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise InvalidInput(f"username {username!r} is taken")
    _check_binding(session, role, site_code, center_code)
    user = User(username=username, display_name=display_name or username, role=role.value,
                site_code=site_code, center_code=center_code, password_hash=_hasher.hash(password))
    session.add(user)
    session.flush()
    return user


def set_password(session: Session, username: str, password: str) -> None:
    if len(password) < 8:
        raise InvalidInput("password must have at least 8 characters")
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user {username!r}")
    user.password_hash = _hasher.hash(password)


def authenticate_password(session: Session, username: str, password: str) -> Principal:
    """Check a user name and password.

    Raises
    ------
    AuthenticationFailed
        Unknown user, inactive user or wrong password (not told apart).
    """
    user = session.scalar(select(User).where(User.username == username))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
        ok = user is not None and user.active
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None:
        raise AuthenticationFailed("wrong user name or password")
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    record_event(session, f"user:{username}", AuditAction.USER_LOGIN, "user", user.id)
    return Principal.of(user)


def login(db: Database, username: str, password: str, ttl: dt.timedelta) -> tuple[Principal, str]:
    """Password login: the principal and a new bearer token.  A failure is audited even though
    the attempt itself changes nothing.

    Raises
    ------
    AuthenticationFailed
        Unknown user, inactive user or wrong password (not told apart).
    """
    try:
        with db.session() as session:
            principal = authenticate_password(session, username, password)
            return principal, issue_token(session, principal.user_id, "login", ttl)
    except AuthenticationFailed:
        with db.session() as session:
            record_event(session, f"user:{username[:64]}", AuditAction.USER_LOGIN_FAILED, "user", username[:64])
        raise


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, user_id: int, name: str, ttl: dt.timedelta | None) -> str:
    """Issue a bearer token for a user; only its SHA-256 is stored.  ``ttl=None`` never expires."""
    token = "sc_" + secrets.token_urlsafe(32)
    expires = utcnow() + ttl if ttl is not None else None
    session.add(ApiToken(user_id=user_id, token_sha256=_digest(token), name=name, expires_at=expires))
    record_event(session, "system", AuditAction.TOKEN_CREATED, "user", user_id, detail={"name": name})
    return token


def authenticate_token(session: Session, token: str) -> Principal:
    """The principal of a bearer token.

    Raises
    ------
    AuthenticationFailed
        Unknown, revoked or expired token, or an inactive user.
    """
    row = session.scalar(select(ApiToken).where(ApiToken.token_sha256 == _digest(token)))
    if row is None or row.revoked or not row.user.active:
        raise AuthenticationFailed("invalid or revoked token")
    expires = row.expires_at
    if expires is not None:
        if expires.tzinfo is None:  # SQLite drops the zone; values are stored in UTC
            expires = expires.replace(tzinfo=dt.UTC)
        if expires < utcnow():
            raise AuthenticationFailed("token expired; log in again")
    return Principal.of(row.user)

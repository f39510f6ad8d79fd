"""Signing credentials of the specialists: issue from the regional CA, import a real CA's, load to sign."""

from __future__ import annotations

import logging
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from sqlalchemy import select
from sqlalchemy.orm import Session

from sharedcenter.config import Settings
from sharedcenter.db.models import Center, SigningCertificate, User, utcnow
from sharedcenter.errors import Conflict, ImproperlyConfigured, InvalidInput
from sharedcenter.signing.ca import RegionalCA, fingerprint
from sharedcenter.signing.keys import key_passphrase, read_private_key, write_private_key
from sharedcenter.signing.pades import SignerIdentity

__all__ = [
    "current_certificate",
    "import_credentials",
    "issue_certificate",
    "regional_ca",
    "signer_identity",
    "trust_roots",
]

logger = logging.getLogger(__name__)


def _ca_dir(settings: Settings) -> Path:
    assert settings.ca_dir is not None  # derived in Settings
    return settings.ca_dir


def regional_ca(settings: Settings, *, create: bool = False) -> RegionalCA:
    """The deployment's regional CA; ``create`` initialises it when missing (dev and test only)."""
    ca = RegionalCA(_ca_dir(settings), settings.secret_key)
    if create and not ca.exists():
        if settings.env == "prod":
            raise ImproperlyConfigured("no regional CA: run 'sharedcenter ca init' (not created implicitly in prod)")
        ca.init(settings.ca_name)
        logger.info("regional CA %r created in %s", settings.ca_name, ca.folder)
    return ca


def trust_roots(settings: Settings) -> list[x509.Certificate]:
    """The roots a signature must chain to: the regional CA's and any PEM in ``<ca_dir>/trusted/``."""
    roots = []
    ca = regional_ca(settings)
    if ca.exists():
        roots.append(ca.certificate())
    for path in sorted((_ca_dir(settings) / "trusted").glob("*.pem")):
        roots.extend(x509.load_pem_x509_certificates(path.read_bytes()))
    return roots


def _organisation(session: Session, user: User) -> str:
    center = session.get(Center, user.center_code) if user.center_code else None
    return center.name if center else "sharedcenter"


def _record(session: Session, user: User, cert: x509.Certificate, key_path: Path) -> SigningCertificate:
    row = SigningCertificate(
        user_id=user.id, serial=f"{cert.serial_number:x}", subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(), fingerprint_sha256=fingerprint(cert),
        cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode(), key_path=str(key_path),
        not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
    )
    session.add(row)
    session.flush()
    return row


def issue_certificate(session: Session, settings: Settings, user: User) -> SigningCertificate:
    """Issue ``user`` a new key and certificate from the regional CA and record it.

    Raises
    ------
    ImproperlyConfigured
        No regional CA (and ``prod``), or its key cannot be read.
    """
    ca = regional_ca(settings, create=settings.signing_auto_enroll)
    issued = ca.issue(user.username, user.display_name or user.username, _organisation(session, user))
    logger.info("signing certificate %x issued to %s", issued.certificate.serial_number, user.username)
    return _record(session, user, issued.certificate, issued.key_path)


def import_credentials(session: Session, settings: Settings, user: User, pkcs12_data: bytes,
                       password: bytes | None) -> SigningCertificate:
    """Import a key and certificate a real CA issued (PKCS#12); the key is re-encrypted at rest.

    Raises
    ------
    InvalidInput
        The file is not PKCS#12, the password is wrong, or the key is not RSA.
    """
    try:
        key, cert, _extra = pkcs12.load_key_and_certificates(pkcs12_data, password)
    except ValueError as exc:
        raise InvalidInput(f"pkcs12: cannot open it ({exc})") from exc
    if not isinstance(key, rsa.RSAPrivateKey) or cert is None:
        raise InvalidInput("pkcs12: it must hold an RSA private key and its certificate")
    key_path = _ca_dir(settings) / "users" / f"{user.username}-{cert.serial_number:x}.key.pem"
    write_private_key(key_path, key, key_passphrase(settings.secret_key, key_path.name))
    return _record(session, user, cert, key_path)


def current_certificate(session: Session, settings: Settings, user: User) -> SigningCertificate:
    """The user's newest valid certificate, issued now when allowed and there is none.

    Raises
    ------
    Conflict
        The user has no valid signing certificate and auto-enrolment is off.
    """
    now = utcnow()
    rows = session.scalars(select(SigningCertificate).where(
        SigningCertificate.user_id == user.id, SigningCertificate.revoked.is_(False),
    ).order_by(SigningCertificate.id.desc())).all()
    for row in rows:
        not_after = row.not_after if row.not_after.tzinfo else row.not_after.replace(tzinfo=now.tzinfo)
        if not_after > now:
            return row
    if not settings.signing_auto_enroll:
        raise Conflict(f"{user.username} has no valid signing certificate: 'sharedcenter ca issue {user.username}'")
    return issue_certificate(session, settings, user)


def signer_identity(settings: Settings, row: SigningCertificate) -> SignerIdentity:
    """Load the key and certificate of ``row`` with the chain and the regional time-stamping authority."""
    key_path = Path(row.key_path)
    key = read_private_key(key_path, key_passphrase(settings.secret_key, key_path.name))
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ImproperlyConfigured(f"signing key {key_path.name} is not an RSA key")
    ca = regional_ca(settings)
    tsa_cert, tsa_key = ca.timestamping() if ca.exists() else (None, None)
    return SignerIdentity(key=key, certificate=x509.load_pem_x509_certificate(row.cert_pem.encode()),
                          chain=trust_roots(settings), tsa_certificate=tsa_cert, tsa_key=tsa_key)

"""A regional certification authority that sharedcenter runs for a region without one.

``sharedcenter ca init`` creates its root (key encrypted, mode 0600) and a time-stamping certificate;
``sharedcenter ca issue USER`` gives a specialist a signing key and certificate.  A region that has
a real CA imports the certificates it issued instead (see :func:`sharedcenter.signing.import_credentials`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sharedcenter.errors import Conflict, ImproperlyConfigured
from sharedcenter.signing.keys import generate_key, key_passphrase, read_private_key, write_private_key

__all__ = ["IssuedCredential", "RegionalCA", "fingerprint"]

_CA_YEARS = 20
_USER_YEARS = 3


def fingerprint(cert: x509.Certificate) -> str:
    """The certificate's SHA-256 fingerprint, hex."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


@dataclasses.dataclass(frozen=True, slots=True)
class IssuedCredential:
    """A certificate just issued and where its (encrypted) key lies."""

    certificate: x509.Certificate
    key_path: Path


def _name(common_name: str, org: str, unit: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)]
    if unit:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


class RegionalCA:
    """The CA's folder: ``ca.cert.pem``, ``ca.key.pem`` (encrypted), ``tsa.*`` and ``users/``."""

    def __init__(self, folder: Path, secret_key: str) -> None:
        self.folder, self._secret = folder, secret_key

    @property
    def cert_path(self) -> Path:
        return self.folder / "ca.cert.pem"

    def exists(self) -> bool:
        return self.cert_path.is_file()

    def init(self, name: str) -> x509.Certificate:
        """Create the root certificate and the time-stamping authority's certificate.

        Raises
        ------
        Conflict
            The folder holds a CA already (it is never replaced).
        """
        if self.exists():
            raise Conflict(f"a regional CA exists already in {self.folder}")
        key = generate_key(3072)
        write_private_key(self.folder / "ca.key.pem", key, key_passphrase(self._secret, "ca"))
        subject = _name(name, name, "区域医疗电子签名根证书")
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=365 * _CA_YEARS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_usage(cert_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        )
        cert = builder.sign(key, hashes.SHA256())
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self._issue_tsa(cert, key, name)
        return cert

    def certificate(self) -> x509.Certificate:
        """The CA's root certificate.

        Raises
        ------
        ImproperlyConfigured
            No CA in the folder (run ``sharedcenter ca init``).
        """
        if not self.exists():
            raise ImproperlyConfigured(f"no regional CA in {self.folder}: run 'sharedcenter ca init'")
        return x509.load_pem_x509_certificate(self.cert_path.read_bytes())

    def issue(self, username: str, display_name: str, organisation: str) -> IssuedCredential:
        """Issue a signing certificate (digitalSignature, nonRepudiation) with a new key for a user."""
        ca_cert, ca_key = self.certificate(), self._ca_key()
        key = generate_key()
        cert = self._sign(ca_cert, ca_key, key, _name(f"{display_name} ({username})", organisation, "报告医师"),
                          _usage(cert_sign=False), None)
        key_path = self.folder / "users" / f"{username}-{cert.serial_number:x}.key.pem"
        write_private_key(key_path, key, key_passphrase(self._secret, key_path.name))
        return IssuedCredential(cert, key_path)

    def timestamping(self) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
        """The time-stamping authority's certificate and key (the region's trusted time source)."""
        cert = x509.load_pem_x509_certificate((self.folder / "tsa.cert.pem").read_bytes())
        return cert, _rsa(read_private_key(self.folder / "tsa.key.pem", key_passphrase(self._secret, "tsa")))

    def _ca_key(self) -> rsa.RSAPrivateKey:
        return _rsa(read_private_key(self.folder / "ca.key.pem", key_passphrase(self._secret, "ca")))

    def _issue_tsa(self, ca_cert: x509.Certificate, ca_key: rsa.RSAPrivateKey, name: str) -> None:
        key = generate_key()
        eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING])
        cert = self._sign(ca_cert, ca_key, key, _name(f"{name} 时间戳服务", name), _usage(cert_sign=False), eku)
        write_private_key(self.folder / "tsa.key.pem", key, key_passphrase(self._secret, "tsa"))
        (self.folder / "tsa.cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    @staticmethod
    def _sign(ca_cert: x509.Certificate, ca_key: rsa.RSAPrivateKey, key: rsa.RSAPrivateKey, subject: x509.Name,
              usage: x509.KeyUsage, eku: x509.ExtendedKeyUsage | None) -> x509.Certificate:
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(min(now + dt.timedelta(days=365 * _USER_YEARS), ca_cert.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        )
        if eku is not None:
            builder = builder.add_extension(eku, critical=True)
        return builder.sign(ca_key, hashes.SHA256())


def _usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=not cert_sign, content_commitment=not cert_sign, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=cert_sign, crl_sign=cert_sign,
                         encipher_only=False, decipher_only=False)


def _rsa(key: object) -> rsa.RSAPrivateKey:
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ImproperlyConfigured("the regional CA's keys must be RSA keys")
    return key

"""PAdES signatures with pyHanko: sign a PDF with a specialist's key and a trusted time stamp, and
verify a signed PDF against the region's trust roots.  pyHanko's own errors stay in this module."""

from __future__ import annotations

import dataclasses
import io
import logging
import warnings
from collections.abc import Sequence

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

# cryptography >= 48 deprecates DSA and pyHanko still imports it: without this every command that loads
# the signing code would print a CryptographyDeprecationWarning to a user who never uses DSA keys.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="DSA is deprecated")
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign import fields, signers
    from pyhanko.sign.general import SigningError
    from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.errors import SignatureValidationError
    from pyhanko_certvalidator import ValidationContext
    from pyhanko_certvalidator.registry import SimpleCertificateStore

__all__ = ["SignatureCheck", "SignerIdentity", "sign_pdf", "verify_pdf"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class SignerIdentity:
    """What signs: the signer's key and certificate, the chain up to the root, and the time stamper."""

    key: rsa.RSAPrivateKey
    certificate: x509.Certificate
    chain: Sequence[x509.Certificate]
    tsa_certificate: x509.Certificate | None = None
    tsa_key: rsa.RSAPrivateKey | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class SignatureCheck:
    """The outcome of verifying a signed PDF."""

    signed: bool
    intact: bool
    valid: bool
    trusted: bool
    covers_whole_file: bool
    timestamped: bool
    signer_subject: str
    signer_fingerprint: str
    signing_time: str
    problem: str

    @property
    def ok(self) -> bool:
        """Intact, cryptographically valid, trusted, and covering every byte of the file."""
        return self.signed and self.intact and self.valid and self.trusted and self.covers_whole_file


def _asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _asn1_key(key: rsa.RSAPrivateKey) -> asn1_keys.PrivateKeyInfo:
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return asn1_keys.PrivateKeyInfo.load(der)


def _store(chain: list[asn1_x509.Certificate]) -> SimpleCertificateStore:
    store = SimpleCertificateStore()  # type: ignore[no-untyped-call]
    store.register_multiple(chain)
    return store


def sign_pdf(pdf: bytes, identity: SignerIdentity, *, reason: str, location: str, name: str) -> bytes:
    """Sign ``pdf`` as PAdES (``ETSI.CAdES.detached``), with a signature time stamp when a TSA is given.

    Parameters
    ----------
    pdf
        The unsigned PDF.
    identity
        Key, certificate, chain and time-stamping authority.
    reason, location, name
        Shown by PDF readers in the signature panel.

    Returns
    -------
    bytes
        The signed PDF (an incremental update of ``pdf``).

    Raises
    ------
    ValueError
        ``pdf`` cannot be parsed or signed.
    """
    chain = [_asn1_cert(c) for c in identity.chain]
    signer = signers.SimpleSigner(signing_cert=_asn1_cert(identity.certificate),
                                  signing_key=_asn1_key(identity.key),
                                  cert_registry=_store(chain))
    timestamper = None
    if identity.tsa_certificate is not None and identity.tsa_key is not None:
        timestamper = DummyTimeStamper(_asn1_cert(identity.tsa_certificate), _asn1_key(identity.tsa_key),
                                       certs_to_embed=_store(chain))
    meta = signers.PdfSignatureMetadata(field_name="ReportSignature", md_algorithm="sha256",
                                        subfilter=fields.SigSeedSubFilter.PADES, reason=reason,
                                        location=location, name=name)
    out = io.BytesIO()
    try:
        signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False), meta, signer=signer,
                         timestamper=timestamper, output=out)
    except (PdfError, SigningError) as exc:
        raise ValueError(f"pdf: cannot sign it ({exc})") from exc
    return out.getvalue()


def verify_pdf(pdf: bytes, trust_roots: Sequence[x509.Certificate]) -> SignatureCheck:
    """Verify the last signature of ``pdf`` against ``trust_roots`` (no network fetching).

    A PDF that cannot be parsed, has no signature, or whose bytes changed yields a check whose
    :attr:`SignatureCheck.ok` is false and whose ``problem`` says why; nothing is raised.
    """
    context = ValidationContext(trust_roots=[_asn1_cert(c) for c in trust_roots], allow_fetching=False)
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        if not reader.embedded_signatures:
            return _failed("the PDF carries no signature", signed=False)
        embedded = reader.embedded_signatures[-1]
        status = validate_pdf_signature(embedded, context, ts_validation_context=context)
    except (PdfError, SignatureValidationError, ValueError, KeyError, OSError) as exc:
        logger.info("PDF signature verification failed: %s", exc)
        return _failed(f"cannot verify: {type(exc).__name__}: {exc}", signed=True)
    cert = status.signing_cert
    whole = status.coverage is not None and status.coverage.name == "ENTIRE_FILE"
    return SignatureCheck(
        signed=True, intact=bool(status.intact), valid=bool(status.valid), trusted=bool(status.trusted),
        covers_whole_file=whole, timestamped=status.timestamp_validity is not None,
        signer_subject=cert.subject.human_friendly if cert is not None else "",
        signer_fingerprint=cert.sha256.hex() if cert is not None else "",
        signing_time=str(status.signer_reported_dt or ""),
        problem="" if status.intact and status.valid and status.trusted and whole else status.summary(),
    )


def _failed(problem: str, *, signed: bool) -> SignatureCheck:
    return SignatureCheck(signed=signed, intact=False, valid=False, trusted=False, covers_whole_file=False,
                          timestamped=False, signer_subject="", signer_fingerprint="", signing_time="",
                          problem=problem)

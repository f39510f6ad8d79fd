"""Electronic signatures: a regional CA, the specialists' keys and certificates, PAdES signing."""

from sharedcenter.signing.ca import IssuedCredential, RegionalCA, fingerprint
from sharedcenter.signing.pades import SignatureCheck, SignerIdentity, sign_pdf, verify_pdf
from sharedcenter.signing.service import (
    current_certificate,
    import_credentials,
    issue_certificate,
    regional_ca,
    signer_identity,
    trust_roots,
)

__all__ = [
    "IssuedCredential",
    "RegionalCA",
    "SignatureCheck",
    "SignerIdentity",
    "current_certificate",
    "fingerprint",
    "import_credentials",
    "issue_certificate",
    "regional_ca",
    "sign_pdf",
    "signer_identity",
    "trust_roots",
    "verify_pdf",
]

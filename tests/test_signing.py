"""PAdES signatures: the regional CA, per-user keys, pyHanko and poppler's ``pdfsig`` on real signed reports."""

from __future__ import annotations

import io
import shutil
import stat
import subprocess
from pathlib import Path

import httpx
import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from sqlalchemy import select

from sharedcenter.auth import Principal
from sharedcenter.config import Settings
from sharedcenter.db.models import SigningCertificate
from sharedcenter.errors import Conflict
from sharedcenter.services import Services
from sharedcenter.signing import RegionalCA, trust_roots, verify_pdf
from tests.conftest import login
from tests.test_cli import sc
from tests.utils import dicom_bytes

needs_pdfsig = pytest.mark.skipif(shutil.which("pdfsig") is None, reason="poppler-utils pdfsig not installed")


def signed_pdf(api: httpx.Client) -> tuple[dict[str, object], bytes]:
    """Upload a CT as the technician, sign it as the radiologist, fetch the PDF as the clinic."""
    study = api.post("/api/uploads", headers=login(api, "tech"),
                     files=[("files", ("a.dcm", dicom_bytes()))]).json()["studies"][0]["id"]
    signed = api.post(f"/api/studies/{study}/report", headers=login(api, "rad"),
                      json={"findings": "双肺纹理清晰。", "impression": "未见明显异常。"})
    assert signed.status_code == 201, signed.text
    report = signed.json()
    pdf = api.get(str(report["pdf_url"]), headers=login(api, "tech")).content
    return report, pdf


def tamper(pdf: bytes) -> bytes:
    """Flip one byte of the page content (inside the signed byte range)."""
    changed = bytearray(pdf)
    at = pdf.index(b"stream", 200) + 40
    changed[at] ^= 0x01
    return bytes(changed)


def pdfsig(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "check.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, check=False).stdout


def test_ca_keys_are_encrypted_and_private(tmp_path: Path) -> None:
    ca = RegionalCA(tmp_path / "ca", "a-secret")
    root = ca.init("测试区域CA")
    assert root.subject == root.issuer
    issued = ca.issue("zhang", "张医生", "东川县人民医院")
    for path in (tmp_path / "ca" / "ca.key.pem", issued.key_path, tmp_path / "ca" / "tsa.key.pem"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert b"BEGIN ENCRYPTED PRIVATE KEY" in path.read_bytes()
    assert issued.certificate.issuer == root.subject
    with pytest.raises(Conflict):
        ca.init("again")


def test_signed_report_verifies_with_pyhanko_and_pdfsig(api: httpx.Client, services: Services,
                                                         tmp_path: Path) -> None:
    report, pdf = signed_pdf(api)
    roots = trust_roots(services.settings)
    check = verify_pdf(pdf, roots)
    assert check.ok and check.timestamped, check
    assert "rad 医生" in check.signer_subject
    # pyHanko directly, as a third party would
    reader = PdfFileReader(io.BytesIO(pdf))
    [embedded] = reader.embedded_signatures
    context = ValidationContext(trust_roots=[_asn1(c) for c in roots], allow_fetching=False)
    status = validate_pdf_signature(embedded, context, ts_validation_context=context)
    assert status.intact and status.valid and status.trusted and status.bottom_line
    with services.db.session() as session:
        [cert] = session.scalars(select(SigningCertificate)).all()
        assert status.signing_cert.sha256.hex() == cert.fingerprint_sha256
        assert "PRIVATE" not in cert.cert_pem


@needs_pdfsig
def test_pdfsig_accepts_the_signature_and_rejects_a_changed_byte(api: httpx.Client, tmp_path: Path) -> None:
    _, pdf = signed_pdf(api)
    out = pdfsig(pdf, tmp_path)
    assert "Signature Validation: Signature is Valid." in out, out
    assert "Total document signed" in out and "ETSI.CAdES.detached" in out
    changed = pdfsig(tamper(pdf), tmp_path)
    assert "Signature is Valid" not in changed and "Digest Mismatch" in changed, changed


def test_a_changed_byte_fails_pyhanko(api: httpx.Client, services: Services) -> None:
    _, pdf = signed_pdf(api)
    check = verify_pdf(tamper(pdf), trust_roots(services.settings))
    assert not check.ok and not check.intact
    assert not verify_pdf(pdf + b"\n% appended\n", trust_roots(services.settings)).ok  # not the whole file
    assert not verify_pdf(b"%PDF-1.4 not a pdf", trust_roots(services.settings)).ok


def test_a_signature_from_another_ca_is_not_trusted(api: httpx.Client, tmp_path: Path) -> None:
    _, pdf = signed_pdf(api)
    foreign = RegionalCA(tmp_path / "other", "x").init("别的CA")
    check = verify_pdf(pdf, [foreign])
    assert check.intact and not check.trusted and not check.ok


def test_cli_ca_init_and_issue(settings: Settings, services: Services, people: dict[str, Principal]) -> None:
    out = sc(settings, "ca", "init", "--name", "东川测试CA")
    assert out.returncode == 0, out.stderr
    assert "东川测试CA" in out.stdout
    assert sc(settings, "ca", "init").returncode != 0  # never replaced
    out = sc(settings, "ca", "issue", "rad")
    assert out.returncode == 0 and "rad 医生" in out.stdout, out.stderr
    assert sc(settings, "ca", "issue", "nobody").returncode != 0
    out = sc(settings, "institution", "add", "h-city-1", "--name", "市第一人民医院")
    assert out.returncode == 0 and out.stdout.startswith("sci_")


def _asn1(cert: object) -> object:
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives import serialization

    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))  # type: ignore[attr-defined]


def test_certificates_from_a_real_ca_are_imported_and_used(api: httpx.Client, services: Services,
                                                          tmp_path: Path) -> None:
    """A region with its own CA: the specialist's PKCS#12 is imported, their reports are signed with it
    and verify against that CA's root once it is trusted."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    from sharedcenter.signing.keys import key_passphrase, read_private_key

    other = RegionalCA(tmp_path / "province-ca", "province-secret")
    root = other.init("示范省电子认证服务中心")
    issued = other.issue("rad", "rad 医生", "东川县人民医院远程影像诊断中心")
    key = read_private_key(issued.key_path, key_passphrase("province-secret", issued.key_path.name))
    p12 = tmp_path / "rad.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(
        b"rad", key, issued.certificate, None, serialization.BestAvailableEncryption(b"p12-pass")))  # type: ignore[arg-type]
    root_pem = tmp_path / "root.pem"
    root_pem.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    settings = services.settings
    assert sc(settings, "ca", "init").returncode == 0  # the region's time-stamping service stays its own
    wrong = sc(settings, "ca", "import", "rad", str(p12), SHAREDCENTER_PKCS12_PASSWORD="nope")
    assert wrong.returncode == 2 and "pkcs12" in wrong.stderr
    out = sc(settings, "ca", "import", "rad", str(p12), "--trust", str(root_pem),
             SHAREDCENTER_PKCS12_PASSWORD="p12-pass")
    assert out.returncode == 0, out.stderr
    _, pdf = signed_pdf(api)
    check = verify_pdf(pdf, trust_roots(settings))
    assert check.ok, check.problem
    from sharedcenter.signing import regional_ca

    assert not verify_pdf(pdf, [regional_ca(settings).certificate()]).trusted  # only the province root vouches
    reader = PdfFileReader(io.BytesIO(pdf))
    signer = reader.embedded_signatures[0].signer_cert
    assert signer.serial_number == issued.certificate.serial_number

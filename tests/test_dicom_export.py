"""Signed reports in the DICOM store: Encapsulated PDF and Comprehensive SR, clean under dciodvfy."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
from pathlib import Path

import httpx
import pydicom
import pytest

from sharedcenter.db.models import Report, Study
from sharedcenter.errors import StorageUnavailable
from sharedcenter.reports.export import export_report
from sharedcenter.services import Services
from sharedcenter.storage.base import InstanceUids, StoredInstance
from tests.conftest import login
from tests.test_recognition import _signed_ecg
from tests.test_signing import signed_pdf

needs_dciodvfy = pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools dciodvfy not installed")


def dciodvfy(data: bytes, tmp_path: Path) -> list[str]:
    """The "Error" lines dciodvfy prints for a Part 10 file (warnings are allowed)."""
    path = tmp_path / f"{hashlib.sha256(data).hexdigest()[:12]}.dcm"
    path.write_bytes(data)
    run = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, check=False)
    output = run.stdout + run.stderr
    assert "EncapsulatedPDF" in output or "ComprehensiveSR" in output, output  # it recognised the IOD
    return [line for line in output.splitlines() if line.startswith("Error")]


def _objects(services: Services, report_id: int) -> tuple[Report, pydicom.Dataset, pydicom.Dataset, bytes, bytes]:
    with services.db.session() as session:
        report = session.get(Report, report_id)
        assert report is not None and report.pdf_sop_instance_uid and report.sr_sop_instance_uid
        study = session.get(Study, report.study_id)
        assert study is not None
        session.expunge(report)
    found: dict[str, bytes] = {}
    for store_id in services.dicom_store.instance_ids(_study_uid(services, report)):
        data = services.dicom_store.fetch(store_id)
        found[str(pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True).SOPInstanceUID)] = data
    pdf_bytes, sr_bytes = found[report.pdf_sop_instance_uid], found[report.sr_sop_instance_uid]
    return report, pydicom.dcmread(io.BytesIO(pdf_bytes)), pydicom.dcmread(io.BytesIO(sr_bytes)), pdf_bytes, sr_bytes


def _study_uid(services: Services, report: Report) -> str:
    from sharedcenter.reports.dicom import report_study_uid

    with services.db.session() as session:
        study = session.get(Study, report.study_id)
        assert study is not None
        return report_study_uid(services, study)


def _observers(sr: pydicom.Dataset) -> tuple[list[str], list[str]]:
    """Person observer names at the root, device observer names inside the AI container."""
    persons, devices = [], []
    for item in sr.ContentSequence:
        if item.ConceptNameCodeSequence[0].CodeValue == "121008":
            persons.append(str(item.PersonName.family_name))
        for sub in item.get("ContentSequence", []):
            if sub.ConceptNameCodeSequence[0].CodeValue == "121013":
                devices.append(str(sub.TextValue))
    return persons, devices


@needs_dciodvfy
def test_signed_imaging_report_goes_into_its_study(api: httpx.Client, services: Services, tmp_path: Path) -> None:
    report, pdf = signed_pdf(api)
    stored, enc, sr, enc_bytes, sr_bytes = _objects(services, int(str(report["id"])))
    study = api.get(f"/api/studies/{report['study_id']}", headers=login(api, "tech")).json()
    assert enc.StudyInstanceUID == sr.StudyInstanceUID == study["study_instance_uid"]
    assert bytes(enc.EncapsulatedDocument)[: len(pdf)] == pdf and enc.EncapsulatedDocumentLength == len(pdf)
    assert enc.SOPClassUID == "1.2.840.10008.5.1.4.1.1.104.1"
    assert enc.MIMETypeOfEncapsulatedDocument == "application/pdf"
    assert sr.VerificationFlag == "VERIFIED" and sr.CompletionFlag == "COMPLETE"
    [verifier] = sr.VerifyingObserverSequence
    assert verifier.VerifyingObserverName.family_name == "rad 医生" and verifier.VerifyingOrganization
    persons, _devices = _observers(sr)
    assert persons == ["rad 医生"]
    assert sr.CurrentRequestedProcedureEvidenceSequence[0].StudyInstanceUID == sr.StudyInstanceUID
    assert dciodvfy(enc_bytes, tmp_path) == [] and dciodvfy(sr_bytes, tmp_path) == []
    with services.db.session() as session:  # a second export is a no-op
        assert export_report(services, session, stored.id) is False


@needs_dciodvfy
def test_ecg_report_has_device_observer_apart(api: httpx.Client, services: Services, tmp_path: Path) -> None:
    with services.db.session() as session:
        from sharedcenter.studies import record_preread

        report = _signed_ecg(api, services, tmp_path)
        row = session.get(Report, int(str(report["id"])))
        assert row is not None
        record_preread(session, row.study_id,
                       {"algorithm": "ecg-rate", "version": "1.2", "preliminary_text": "窦性心律"})
    amended = api.post(f"/api/studies/{report['study_id']}/report", headers=login(api, "card"),
                       json={"findings": "窦性心律。", "impression": "正常心电图。", "amendment_reason": "补充"})
    assert amended.status_code == 201, amended.text
    _stored, enc, sr, enc_bytes, sr_bytes = _objects(services, amended.json()["id"])
    persons, devices = _observers(sr)
    assert persons == ["card 医生"] and "ecg-rate" in devices
    assert sr.ContentSequence[-1].ConceptNameCodeSequence[0].CodeValue == "121076"  # AI apart, preliminary
    assert enc.StudyInstanceUID == sr.StudyInstanceUID
    _, old_enc, old_sr, _, _ = _objects(services, int(str(report["id"])))
    assert old_sr.StudyInstanceUID == sr.StudyInstanceUID  # every version joins the same ECG study
    assert dciodvfy(enc_bytes, tmp_path) == [] and dciodvfy(sr_bytes, tmp_path) == []


class _DownStore:
    """A DICOM store that does not answer (wraps the real one for everything else)."""

    def __init__(self, real: object) -> None:
        self.real = real

    def store(self, data: bytes, uids: InstanceUids | None = None) -> StoredInstance:
        raise StorageUnavailable("DICOM store down")

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)


def test_store_down_keeps_signature_and_queues_retry(api: httpx.Client, services: Services,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[int] = []
    monkeypatch.setattr(services, "dicom_store", _DownStore(services.dicom_store))
    monkeypatch.setattr(services.queue, "send_report_export", sent.append, raising=False)
    study = api.post("/api/uploads", headers=login(api, "tech"),
                     files=[("files", ("a.dcm", _dicom()))]).json()["studies"][0]["id"]
    signed = api.post(f"/api/studies/{study}/report", headers=login(api, "rad"), json={"impression": "未见异常"})
    assert signed.status_code == 201 and signed.json()["status"] == "signed", signed.text
    rid = signed.json()["id"]
    assert sent == [rid]
    with services.db.session() as session:
        row = session.get(Report, rid)
        assert row is not None and row.pdf_sop_instance_uid is None
    monkeypatch.setattr(services, "dicom_store", services.dicom_store.real)  # type: ignore[attr-defined]
    from worker._export import run_export

    assert run_export(services, rid) == "exported" and run_export(services, rid) == "already"
    with services.db.session() as session:
        row = session.get(Report, rid)
        assert row is not None and row.pdf_sop_instance_uid and row.sr_sop_instance_uid


def _dicom() -> bytes:
    from tests.utils import dicom_bytes

    return dicom_bytes()

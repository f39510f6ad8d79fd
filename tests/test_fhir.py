# mypy: disable-error-code="union-attr,index,arg-type,misc"
"""``GET /fhir/DiagnosticReport``: R4 Bundles parsed back with fhir.resources, scopes and search params."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.observation import Observation

from sharedcenter.db.models import Report
from sharedcenter.services import Services
from sharedcenter.studies import record_preread
from tests.conftest import login
from tests.test_recognition import _hospital, _signed_ecg
from tests.test_signing import signed_pdf


def _bundle(api: httpx.Client, headers: dict[str, str], **params: object) -> Bundle:
    response = api.get("/fhir/DiagnosticReport", params=params, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    bundle = Bundle.model_validate_json(response.content)
    assert bundle.type == "searchset"
    return bundle


def _reports(bundle: Bundle) -> list[DiagnosticReport]:
    return [DiagnosticReport.model_validate(e.resource.model_dump()) for e in bundle.entry or []]


def test_imaging_report_as_fhir(api: httpx.Client) -> None:
    report, pdf = signed_pdf(api)
    study = api.get(f"/api/studies/{report['study_id']}", headers=login(api, "tech")).json()
    bundle = _bundle(api, login(api, "tech"), category="RAD")
    [found] = _reports(bundle)
    assert bundle.total == 1 and found.id == str(report["id"]) and found.status == "final"
    assert found.conclusion == "未见明显异常。" and found.subject.identifier.value == study["patient_id"]
    assert found.category[0].coding[0].code == "RAD" and found.code.coding[0].code == "18748-4"
    assert found.imagingStudy[0].identifier.value == f"urn:oid:{study['study_instance_uid']}"
    [form] = found.presentedForm
    assert form.contentType == "application/pdf" and str(form.url).endswith(f"/api/reports/{report['id']}/pdf")
    assert form.hash == hashlib.sha1(pdf, usedforsecurity=False).digest()  # base64Binary, decoded by the model
    assert {p.display for p in found.performer} >= {"rad 医生"} and found.issued is not None
    assert _reports(_bundle(api, login(api, "tech"), category="EKG")) == []
    assert _reports(_bundle(api, login(api, "tech2"))) == []  # another site's technician sees nothing
    assert len(_reports(_bundle(api, login(api, "qc"), patient=study["patient_id"]))) == 1


def test_ecg_observations_dates_and_hospital_scope(api: httpx.Client, services: Services, tmp_path: Path) -> None:
    report = _signed_ecg(api, services, tmp_path)
    with services.db.session() as session:
        row = session.get(Report, int(str(report["id"])))
        assert row is not None
        record_preread(session, row.study_id, {"algorithm": "ecg-rate", "version": "9.9",
                                               "measurements": {"heart_rate_bpm": 72.0, "qrs_duration_ms": 96,
                                                                "rr_mean_s": 0.833}})
    card = login(api, "card")
    [found] = _reports(_bundle(api, card, category="http://terminology.hl7.org/CodeSystem/v2-0074|EKG"))
    observations = {o.code.coding[0].code: Observation.model_validate(o.model_dump()) for o in found.contained}
    assert observations["8867-4"].valueQuantity.value == 72.0 and observations["8867-4"].valueQuantity.unit == "/min"
    assert observations["8633-5"].valueQuantity.value == 96 and observations["8637-6"].valueQuantity.value == 833.0
    assert {r.reference for r in found.result} == {f"#{o.id}" for o in found.contained}
    assert _reports(_bundle(api, card, date="ge2000-01-01")) and not _reports(_bundle(api, card, date="le2000-01-01"))
    assert _reports(_bundle(api, card, date=["ge2000-01-01", "le2999-12-31"], _count=1))
    hospital = _hospital(services)
    assert _reports(_bundle(api, hospital, patient=str(report["patient_id"])))[0].id == str(report["id"])
    assert _reports(_bundle(api, hospital, patient="someone-else")) == []
    assert api.get("/fhir/DiagnosticReport", headers=hospital).status_code == 422  # must name the patient
    assert api.get("/fhir/DiagnosticReport", params={"patient": "x"},
                   headers={"Authorization": "Bearer sci_unknown"}).status_code == 401
    assert api.get("/fhir/DiagnosticReport").status_code == 401
    assert api.get("/fhir/DiagnosticReport", params={"category": "XYZ"}, headers=card).status_code == 422
    assert api.get("/fhir/DiagnosticReport", params={"date": "ge-soon"}, headers=card).status_code == 422
    amended = api.post(f"/api/studies/{report['study_id']}/report", headers=card,
                       json={"impression": "更正。", "amendment_reason": "复核"})
    [current] = _reports(_bundle(api, card))
    assert current.id == str(amended.json()["id"]) and current.status == "amended"

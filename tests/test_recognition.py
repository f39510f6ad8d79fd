"""The recognition registry: a signed ECG is found by a member hospital, decisions are recorded."""

from __future__ import annotations

from pathlib import Path

import httpx

from sharedcenter.db.models import Study
from sharedcenter.recognition import add_institution
from sharedcenter.services import Services
from tests.conftest import login
from tests.test_signing import signed_pdf
from tests.utils import simulated_wfdb


def _signed_ecg(api: httpx.Client, services: Services, tmp_path: Path) -> dict[str, object]:
    up = api.post("/api/uploads", headers=login(api, "tech"),
                  files=[("files", (n, b)) for n, b in simulated_wfdb(tmp_path).items()])
    study = up.json()["studies"][0]["id"]
    with services.db.session() as session:  # the simulated WFDB header names no patient
        row = session.get(Study, study)
        assert row is not None
        row.patient_id = "P-ECG-0001"
    signed = api.post(f"/api/studies/{study}/report", headers=login(api, "card"),
                      json={"findings": "窦性心律。", "impression": "正常心电图。"})
    assert signed.status_code == 201, signed.text
    report: dict[str, object] = signed.json()
    report["patient_id"] = api.get(f"/api/studies/{study}", headers=login(api, "tech")).json()["patient_id"]
    return report


def _hospital(services: Services) -> dict[str, str]:
    with services.db.session() as session:
        token = add_institution(session, "h-city-1", "市第一人民医院")
    return {"Authorization": f"Bearer {token}"}


def test_member_hospital_finds_and_decides(api: httpx.Client, services: Services, tmp_path: Path) -> None:
    report = _signed_ecg(api, services, tmp_path)
    assert report["recognition_mark"] == "HR"
    hospital = _hospital(services)
    params = {"patient": str(report["patient_id"]), "exam": "ecg12"}
    assert api.get("/api/recognition", params=params).status_code == 401
    unknown = {"Authorization": "Bearer sci_unknown"}
    assert api.get("/api/recognition", params=params, headers=unknown).status_code == 401
    assert api.get("/api/recognition", params=params, headers=login(api, "rad")).status_code == 401  # not a hospital
    response = api.get("/api/recognition", params=params, headers=hospital)
    assert response.status_code == 200 and isinstance(response.json(), list), response.text
    [found] = response.json()
    assert found["report_id"] == report["id"] and found["mark"] == "HR" and found["exam_name"] == "常规12导联心电图"
    assert found["study_reference"].startswith("ecg:")
    verify = api.get(found["verification_url"].replace(services.settings.public_url, ""),
                     headers={"Accept": "application/json"}).json()
    assert verify["authentic"] and verify["recognized"]
    assert api.get("/api/recognition", params={**params, "exam": "cxr"}, headers=hospital).json() == []

    entry = found["entry_id"]
    ok = api.post("/api/recognition/decisions", headers=hospital, json={"entry_id": entry, "decision": "accepted"})
    assert ok.status_code == 201
    no_reason = api.post("/api/recognition/decisions", headers=hospital,
                         json={"entry_id": entry, "decision": "repeated"})
    assert no_reason.status_code == 422 and "reason" in no_reason.json()["detail"]
    repeated = api.post("/api/recognition/decisions", headers=hospital,
                        json={"entry_id": entry, "decision": "repeated", "reason": "changed_condition"})
    assert repeated.status_code == 201
    assert api.post("/api/recognition/decisions", headers=hospital,
                    json={"entry_id": 99999, "decision": "accepted"}).status_code == 404
    summary = api.get("/api/recognition/decisions/report", headers=login(api, "qc")).json()
    assert summary["accepted"] == 1 and summary["repeated"] == 1
    assert summary["repeat_reasons"] == {"changed_condition": 1}
    assert api.get("/api/recognition/decisions/report", headers=login(api, "tech")).status_code == 403


def test_amendment_replaces_the_registry_entry(api: httpx.Client, services: Services, tmp_path: Path) -> None:
    report = _signed_ecg(api, services, tmp_path)
    hospital = _hospital(services)
    amended = api.post(f"/api/studies/{report['study_id']}/report", headers=login(api, "card"),
                       json={"impression": "窦性心律，T 波低平。", "amendment_reason": "复核"}).json()
    found = api.get("/api/recognition", params={"patient": str(report["patient_id"])}, headers=hospital).json()
    assert [f["report_id"] for f in found] == [amended["id"]]


def test_exam_outside_the_rules_is_not_recognized(api: httpx.Client) -> None:
    report, _ = signed_pdf(api)  # a CT: not in the region's recognition list
    assert report["recognition_mark"] is None

"""The HTTP API on the embedded adapters: scope, errors, uploads, worklist, signing, the clinic's view."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from sharedcenter.auth import Principal
from sharedcenter.db import Report, Study
from sharedcenter.errors import ReportLocked
from sharedcenter.services import Services
from sharedcenter.studies import record_preread
from tests.conftest import login, serve_api
from tests.utils import dicom_bytes, simulated_wfdb


def _upload(api: httpx.Client, who: str, files: dict[str, bytes], **data: str) -> httpx.Response:
    return api.post("/api/uploads", headers=login(api, who),
                    files=[("files", (name, body, "application/octet-stream")) for name, body in files.items()],
                    data=data)


def _preread(services: Services, study_id: int, critical: bool = False) -> None:
    """Store a pre-read as the worker would (the worker itself is tested in test_end_to_end)."""
    with services.db.session() as session:
        record_preread(session, study_id, {
            "algorithm": "test.algorithm", "version": "1", "findings": [], "measurements": {},
            "preliminary_text": "【AI 预阅】", "critical": critical})


def test_login_and_tokens(api: httpx.Client) -> None:
    assert api.get("/api/me").status_code == 401
    bad = api.post("/api/auth/login", json={"username": "tech", "password": "nope-nope"})
    assert bad.status_code == 401 and bad.headers["www-authenticate"] == "Bearer"
    me = api.get("/api/me", headers=login(api, "tech")).json()
    assert me == {"username": "tech", "display_name": "tech 医生", "role": "technician", "site": "c01-t01",
                  "center": None}
    assert api.get("/api/me", headers={"Authorization": "Bearer sc_forged"}).status_code == 401


def test_upload_scope_and_duplicates(api: httpx.Client) -> None:
    data = dicom_bytes()
    first = _upload(api, "tech", {"a.dcm": data})
    assert first.status_code == 201, first.text
    [study] = first.json()["studies"]
    assert (study["kind"], study["state"], study["site_code"]) == ("dicom", "received", "c01-t01")
    assert study["created"] is True
    again = _upload(api, "tech", {"a.dcm": data})
    assert again.status_code == 200 and again.json()["studies"][0]["id"] == study["id"]
    assert again.json()["studies"][0]["duplicate"] is True
    assert _upload(api, "tech", {"b.dcm": dicom_bytes()}, site="c01-t02").status_code == 403
    assert _upload(api, "rad", {"b.dcm": dicom_bytes()}).status_code == 422  # a center has no site of its own
    assert _upload(api, "rad", {"b.dcm": dicom_bytes()}, site="c01-t01").status_code == 403
    assert _upload(api, "admin", {"b.dcm": dicom_bytes()}, site="nowhere").status_code == 404


def test_bad_upload_names_the_file_and_stores_nothing(api: httpx.Client, services: Services) -> None:
    response = _upload(api, "tech", {"ok.dcm": dicom_bytes(), "scan.jpg": b"\xff\xd8\xff\xe0 not an exam"})
    assert response.status_code == 422
    assert "scan.jpg" in response.json()["detail"]
    with services.db.session() as session:
        assert session.scalars(select(Study)).all() == []
    assert not any(services.settings.dicom_folder.rglob("*.dcm"))  # type: ignore[union-attr]


def test_oversized_upload_is_refused(services: Services, people: dict[str, Principal]) -> None:
    services.settings.max_upload_bytes = 10_000
    with serve_api(services) as url, httpx.Client(base_url=url) as client:
        headers = login(client, "tech")
        big = client.post("/api/uploads", headers=headers, files=[("files", ("a.dcm", b"\0" * 2_000_000))])
        assert big.status_code == 413 and "limit" in big.json()["detail"]
        two = [("files", (f"{i}.dcm", dicom_bytes())) for i in range(3)]  # each small, together too big
        assert client.post("/api/uploads", headers=headers, files=two).status_code == 413


def test_worklist_is_scoped_and_ordered(api: httpx.Client, services: Services, tmp_path: Path) -> None:
    ids = [_upload(api, "tech", {"a.dcm": dicom_bytes()}).json()["studies"][0]["id"] for _ in range(3)]
    other = _upload(api, "tech_c02", {"a.dcm": dicom_bytes()}).json()["studies"][0]["id"]
    ecg = _upload(api, "tech", simulated_wfdb(tmp_path)).json()["studies"][0]["id"]
    _preread(services, ids[2], critical=True)
    rad = api.get("/api/worklist", headers=login(api, "rad")).json()
    assert [s["id"] for s in rad] == [ids[2], ids[0], ids[1]]  # critical first, then due time
    assert rad[0]["critical"] and rad[0]["state"] == "preread"
    assert [s["id"] for s in api.get("/api/worklist", headers=login(api, "card")).json()] == [ecg]
    assert [s["id"] for s in api.get("/api/worklist", headers=login(api, "rad_c02")).json()] == [other]
    assert api.get("/api/worklist", headers=login(api, "tech")).status_code == 403
    assert len(api.get("/api/worklist", headers=login(api, "qc")).json()) == 5
    assert api.get(f"/api/studies/{ids[0]}", headers=login(api, "rad_c02")).status_code == 404
    assert api.get(f"/api/studies/{ids[0]}", headers=login(api, "tech2")).status_code == 404
    filtered = api.get("/api/worklist", params={"state": "preread"}, headers=login(api, "rad")).json()
    assert [s["id"] for s in filtered] == [ids[2]]


def test_sign_amend_and_the_clinic_sees_it(api: httpx.Client, services: Services) -> None:
    rid = "trace-0001"
    study_id = _upload(api, "tech", {"a.dcm": dicom_bytes()}).json()["studies"][0]["id"]
    _preread(services, study_id)
    body = {"findings": "双肺纹理清晰。", "impression": "胸部未见明显异常。"}
    assert api.post(f"/api/studies/{study_id}/report", json=body, headers=login(api, "qc")).status_code == 403
    for outsider in ("card", "rad_c02"):  # another center's study is not even shown to exist
        assert api.post(f"/api/studies/{study_id}/report", json=body, headers=login(api, outsider)).status_code == 404
    empty = api.post(f"/api/studies/{study_id}/report", json={"impression": " "}, headers=login(api, "rad"))
    assert empty.status_code == 422
    signed = api.post(f"/api/studies/{study_id}/report", json=body,
                      headers={**login(api, "rad"), "X-Request-ID": rid})
    assert signed.status_code == 201, signed.text
    v1 = signed.json()
    assert (v1["version"], v1["status"], v1["signed_by"]) == (1, "signed", "rad 医生")
    again = api.post(f"/api/studies/{study_id}/report", json=body, headers=login(api, "rad"))
    assert again.status_code == 409 and "amendment" in again.json()["detail"]
    amended = api.post(f"/api/studies/{study_id}/report", headers=login(api, "rad"),
                       json={**body, "impression": "右下肺小结节，建议复查。", "amendment_reason": "复核后补充"})
    assert amended.status_code == 201 and amended.json()["version"] == 2

    clinic = api.get("/api/sites/c01-t01/reports", headers=login(api, "tech")).json()
    assert [(r["version"], r["status"]) for r in clinic] == [(2, "signed"), (1, "superseded")]
    pdf = api.get(clinic[0]["pdf_url"], headers=login(api, "tech"))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert hashlib.sha256(pdf.content).hexdigest() == clinic[0]["pdf_sha256"]
    assert api.get("/api/sites/c01-t01/reports", headers=login(api, "tech2")).status_code == 403
    assert api.get(clinic[0]["pdf_url"], headers=login(api, "tech2")).status_code == 404
    study = api.get(f"/api/studies/{study_id}", headers=login(api, "tech")).json()
    assert study["state"] == "signed" and len(study["reports"]) == 2

    trail = api.get(f"/api/studies/{study_id}/audit", headers=login(api, "qc")).json()
    actions = [e["action"] for e in trail]
    assert actions[:2] == ["study.received", "preread.queued"]
    assert "report.signed" in actions
    assert any(e["correlation_id"] == rid and e["action"] == "report.signed" for e in trail)


def test_signed_versions_never_change(api: httpx.Client, services: Services) -> None:
    study_id = _upload(api, "tech", {"a.dcm": dicom_bytes()}).json()["studies"][0]["id"]
    api.post(f"/api/studies/{study_id}/report", json={"impression": "未见异常。"}, headers=login(api, "rad"))
    with pytest.raises(ReportLocked, match="signed and cannot change"), services.db.session() as session:
        report = session.scalars(select(Report)).one()
        report.impression = "改过的结论"
        session.flush()
    with pytest.raises(ReportLocked, match="cannot be deleted"), services.db.session() as session:
        session.delete(session.scalars(select(Report)).one())
        session.flush()
    with services.db.session() as session:
        assert session.scalars(select(Report)).one().impression == "未见异常。"


def test_station_page_is_served(api: httpx.Client) -> None:
    page = api.get("/")
    assert page.status_code == 200 and "阅片工作站" in page.text
    assert api.get("/healthz").json()["status"] == "ok"


def test_ecg_upload_returns_its_quality(api: httpx.Client, tmp_path: Path) -> None:
    files = simulated_wfdb(tmp_path)
    response = _upload(api, "tech", files)
    assert response.status_code == 201, response.text
    [study] = response.json()["studies"]
    assert study["kind"] == "ecg" and study["quality"]["algorithm"] == "sharedcenter.ecg-quality"
    assert study["quality"]["verdict"] in {"acceptable", "acceptable_with_warnings"}
    assert set(study["quality"]["per_lead"]) >= {"I", "II", "V6"}
    image = _upload(api, "tech", {"a.dcm": dicom_bytes()}).json()["studies"][0]
    assert "quality" not in image


def test_post_ecg_takes_one_recording(api: httpx.Client, tmp_path: Path) -> None:
    from sharedcenter.ecg import read_ecg
    from sharedcenter.ecg.scp import write_scp

    scp = write_scp(read_ecg(simulated_wfdb(tmp_path)))
    headers = login(api, "tech")
    first = api.post("/api/ecg", headers=headers, files=[("files", ("cart-export", scp))])
    assert first.status_code == 201, first.text
    assert first.json()["kind"] == "ecg" and first.json()["quality"]["verdict"] != "repeat_recording"
    again = api.post("/api/ecg", headers=headers, files=[("files", ("cart-export", scp))])
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    image = api.post("/api/ecg", headers=headers, files=[("files", ("ct.dcm", dicom_bytes()))])
    assert image.status_code == 422 and "not a waveform" in image.text
    other_site = api.post("/api/ecg", headers=headers, data={"site": "c01-t02"}, files=[("files", ("x", scp))])
    assert other_site.status_code == 403

"""Report lifecycle through the API: draft, edit, sign, refuse changes, amend; the public verify page."""

from __future__ import annotations

import httpx

from sharedcenter.services import Services
from tests.conftest import login
from tests.test_signing import signed_pdf, tamper
from tests.utils import dicom_bytes


def _study(api: httpx.Client) -> int:
    response = api.post("/api/uploads", headers=login(api, "tech"), files=[("files", ("a.dcm", dicom_bytes()))])
    return int(response.json()["studies"][0]["id"])


def test_draft_edit_sign_and_refusals(api: httpx.Client) -> None:
    study, rad = _study(api), login(api, "rad")
    draft = api.post(f"/api/studies/{study}/draft", headers=rad, json={"impression": "初稿"})
    assert draft.status_code == 201 and draft.json()["status"] == "draft" and draft.json()["pdf_url"] is None
    rid = draft.json()["id"]
    assert api.put(f"/api/reports/{rid}", headers=login(api, "rad_c02"), json={"impression": "x"}).status_code == 404
    edited = api.put(f"/api/reports/{rid}", headers=rad, json={"findings": "所见", "impression": "终稿"})
    assert edited.status_code == 200 and edited.json()["impression"] == "终稿" and edited.json()["version"] == 1
    assert api.get("/api/sites/c01-t01/reports", headers=login(api, "tech")).json() == []  # drafts stay inside
    signed = api.post(f"/api/reports/{rid}/sign", headers=rad)
    assert signed.status_code == 200 and signed.json()["status"] == "signed"
    assert signed.json()["verification_url"].startswith("/verify/")
    assert api.post(f"/api/reports/{rid}/sign", headers=rad).status_code == 409  # signing twice
    locked = api.put(f"/api/reports/{rid}", headers=rad, json={"impression": "改"})
    assert locked.status_code == 409 and "amend" in locked.json()["detail"]
    # an amendment drafted without its reason cannot be signed
    amend = api.post(f"/api/studies/{study}/draft", headers=rad, json={"impression": "更正"}).json()
    assert amend["version"] == 2
    assert api.post(f"/api/reports/{amend['id']}/sign", headers=rad).status_code == 409
    api.put(f"/api/reports/{amend['id']}", headers=rad, json={"impression": "更正", "amendment_reason": "笔误"})
    assert api.post(f"/api/reports/{amend['id']}/sign", headers=rad).status_code == 200
    versions = api.get("/api/sites/c01-t01/reports", headers=login(api, "tech")).json()
    assert [(r["version"], r["status"], r["amendment_reason"]) for r in versions] == [
        (2, "signed", "笔误"), (1, "superseded", None)]
    assert api.get(f"/api/reports/{rid}", headers=login(api, "tech")).json()["impression"] == "终稿"


def test_verify_page_confirms_and_refuses(api: httpx.Client, services: Services) -> None:
    report, pdf = signed_pdf(api)
    url = str(report["verification_url"])
    page = api.get(url)  # public: no login
    assert page.status_code == 200 and "报告真实有效" in page.text
    assert str(report["pdf_sha256"]) in page.text and str(report["content_sha256"]) in page.text
    assert "rad 医生" in page.text
    study = api.get(f"/api/studies/{report['study_id']}", headers=login(api, "tech")).json()
    if study["patient_name"]:
        assert study["patient_name"] not in page.text  # only what the QR holder has, no identity
    data = api.get(url, headers={"Accept": "application/json"}).json()
    assert data["authentic"] and data["signature"]["ok"] and data["content_intact"]
    good = api.post(url, files={"pdf": ("r.pdf", pdf, "application/pdf")}).json()
    assert good["authentic"] and good["uploaded_matches"] is True
    bad = api.post(url, files={"pdf": ("r.pdf", tamper(pdf), "application/pdf")}).json()
    assert not bad["authentic"] and bad["uploaded_matches"] is False and not bad["signature"]["ok"]
    assert api.get("/verify/forged-id").status_code == 404
    assert api.get(f"/api/reports/{report['id']}/pdf").status_code == 401  # the PDF itself is not public


def test_amended_version_shows_superseded_on_verify(api: httpx.Client) -> None:
    report, _ = signed_pdf(api)
    amended = api.post(f"/api/studies/{report['study_id']}/report", headers=login(api, "rad"),
                       json={"impression": "更正后结论", "amendment_reason": "复核"})
    assert amended.status_code == 201
    old = api.get(str(report["verification_url"]), headers={"Accept": "application/json"}).json()
    assert old["status"] == "superseded" and old["signature"]["ok"]
    assert "取代" in api.get(str(report["verification_url"])).text

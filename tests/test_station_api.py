"""The reading station's API on the embedded adapters: worklist with claims, leases, report actions,
consultations with the city center, and the clinic's view."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from sharedcenter.auth import Principal
from sharedcenter.claims import claim_of, claim_study
from sharedcenter.db import Study
from sharedcenter.errors import StudyClaimed
from sharedcenter.services import Services
from tests.conftest import PASSWORD, login
from tests.station_helpers import add_city_expert, ecg_preread, preread, upload
from tests.utils import dicom_bytes, simulated_wfdb

BODY = {"findings": "双肺纹理清晰。", "impression": "胸部未见明显异常。"}


def _worklist(api: httpx.Client, who: str, **params: str) -> list[dict[str, Any]]:
    response = api.get("/api/station/worklist", headers=login(api, who), params=params)
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["studies"]
    return rows


def test_worklist_order_claims_and_etag(api: httpx.Client, services: Services) -> None:
    ids = [upload(api, "tech", {"a.dcm": dicom_bytes()})["id"] for _ in range(3)]
    preread(services, ids[1], critical=True)
    rows = _worklist(api, "rad")
    assert [r["id"] for r in rows] == [ids[1], ids[0], ids[2]]
    assert rows[0]["critical"] and rows[1]["window_seconds"] == 24 * 3600
    assert 0 < rows[1]["seconds_left"] <= 24 * 3600 and rows[1]["claimed_by"] is None
    headers = login(api, "rad")
    first = api.get("/api/station/worklist", headers=headers)
    etag = first.headers["etag"]
    assert api.get("/api/station/worklist", headers={**headers, "If-None-Match": etag}).status_code == 304
    assert api.post(f"/api/station/studies/{ids[0]}/claim", headers=headers).status_code == 200
    changed = api.get("/api/station/worklist", headers={**headers, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    claimed = {r["id"]: r["claimed_by"] for r in changed.json()["studies"]}
    assert claimed[ids[0]] == {"username": "rad", "display_name": "rad 医生"}
    assert [r["id"] for r in _worklist(api, "rad", state="preread")] == [ids[1]]
    assert _worklist(api, "rad", site="c01-t02") == []
    assert len(_worklist(api, "rad", modality="ct", day=dt.datetime.now(dt.UTC).date().isoformat())) == 3
    assert api.get("/api/station/worklist", headers=login(api, "tech")).status_code == 403


def test_two_readers_cannot_sign_the_same_study(api: httpx.Client, services: Services) -> None:
    add_city_expert(services, "rad2_c01", "radiologist")  # a second reader; bind to c01-img below
    with services.db.session() as session:
        from sharedcenter.db import User
        session.execute(update(User).where(User.username == "rad2_c01").values(center_code="c01-img"))
    study_id = upload(api, "tech", {"a.dcm": dicom_bytes()})["id"]
    preread(services, study_id)
    rad, rad2 = login(api, "rad"), login(api, "rad2_c01")
    assert api.post(f"/api/station/studies/{study_id}/claim", headers=rad).status_code == 200
    taken = api.post(f"/api/station/studies/{study_id}/claim", headers=rad2)
    assert taken.status_code == 409 and "rad 医生" in taken.json()["detail"]
    sign2 = api.post(f"/api/station/studies/{study_id}/sign", headers=rad2, json={**BODY, "password": PASSWORD})
    assert sign2.status_code == 409
    # the plain report routes refuse as well: the database layer guards every path
    assert api.post(f"/api/studies/{study_id}/report", headers=rad2, json=BODY).status_code == 409
    assert api.post(f"/api/studies/{study_id}/draft", headers=rad2, json=BODY).status_code == 409
    wrong = api.post(f"/api/station/studies/{study_id}/sign", headers=rad, json={**BODY, "password": "not-mine-42"})
    assert wrong.status_code == 401
    signed = api.post(f"/api/station/studies/{study_id}/sign", headers=rad, json={**BODY, "password": PASSWORD})
    assert signed.status_code == 201, signed.text
    assert signed.json()["status"] == "signed" and signed.json()["signed_by"] == "rad 医生"
    view = api.get(f"/api/station/studies/{study_id}", headers=rad).json()
    assert view["claim"] is None and view["study"]["state"] == "signed"


def test_a_lease_lapses_on_its_own(services: Services, people: dict[str, Principal], api: httpx.Client) -> None:
    study_id = upload(api, "tech", {"a.dcm": dicom_bytes()})["id"]
    with services.db.session() as session:
        study = session.get(Study, study_id)
        assert study is not None
        claim_study(session, people["rad"], study, dt.timedelta(seconds=30))
        with pytest.raises(StudyClaimed):
            claim_study(session, people["admin"], study)
        session.execute(update(Study).where(Study.id == study_id)
                        .values(claimed_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
        session.refresh(study)
        assert claim_of(session, study) is None
    rad_c01_b = login(api, "rad")
    assert api.post(f"/api/station/studies/{study_id}/draft", headers=rad_c01_b, json=BODY).status_code == 201
    with pytest.raises(ValueError, match="lease"), services.db.session() as session:
        again = session.get(Study, study_id)
        assert again is not None
        claim_study(session, people["rad"], again, dt.timedelta(hours=3))


def test_study_view_form_is_prefilled_from_ai(api: httpx.Client, services: Services, tmp_path: Path) -> None:
    study_id = upload(api, "tech", simulated_wfdb(tmp_path))["id"]
    ecg_preread(services, study_id, rate=71.6)
    view = api.get(f"/api/station/studies/{study_id}", headers=login(api, "card")).json()
    form = view["form"]
    assert form["exam"] == "ecg12" and form["ai"]["automatic"] and form["ai"]["preliminary"]
    rate = next(f for f in form["fields"] if f["key"] == "heart_rate")
    assert rate == {"key": "heart_rate", "zh": "心率（次/分）", "en": "Heart rate (bpm)", "ai": True, "value": "72"}
    assert any(p["text"] == "正常心电图。" for p in form["phrases"])
    draft = api.post(f"/api/station/studies/{study_id}/draft", headers=login(api, "card"),
                     json={"findings": "心率：72", "impression": "正常心电图。"})
    assert draft.status_code == 201
    again = api.get(f"/api/station/studies/{study_id}", headers=login(api, "card")).json()
    assert again["form"]["draft"]["impression"] == "正常心电图。" and again["claim"]["username"] == "card"


def test_return_for_retake_reaches_the_clinic(api: httpx.Client, services: Services) -> None:
    study_id = upload(api, "tech", {"a.dcm": dicom_bytes()})["id"]
    preread(services, study_id)
    returned = api.post(f"/api/station/studies/{study_id}/return", headers=login(api, "rad"),
                        json={"text": "体位不正，请重新拍摄。"})
    assert returned.status_code == 200 and returned.json()["state"] == "returned"
    rows = api.get("/api/station/clinic/studies", headers=login(api, "tech")).json()
    row = next(r for r in rows if r["id"] == study_id)
    assert row["state"] == "returned" and row["returned_reason"] == "体位不正，请重新拍摄。"
    assert row["preliminary"]["automatic"] and row["preliminary"]["text"].startswith("【AI 预阅")
    assert api.get("/api/station/clinic/studies", headers=login(api, "tech2")).json() == []
    assert api.get("/api/station/clinic/studies?site=c01-t01", headers=login(api, "tech2")).status_code == 403
    assert study_id not in [r["id"] for r in _worklist(api, "rad")]
    again = api.post(f"/api/station/studies/{study_id}/return", headers=login(api, "rad"), json={"text": "x"})
    assert again.status_code == 409


def test_escalation_is_answered_by_the_city_center(api: httpx.Client, services: Services) -> None:
    add_city_expert(services)
    study_id = upload(api, "tech", {"a.dcm": dicom_bytes()})["id"]
    preread(services, study_id)
    asked = api.post(f"/api/station/studies/{study_id}/escalate", headers=login(api, "rad"),
                     json={"text": "右上肺结节性质？请会诊。"})
    assert asked.status_code == 201, asked.text
    assert api.post(f"/api/station/studies/{study_id}/escalate", headers=login(api, "rad"),
                    json={"text": "again"}).status_code == 409
    expert = login(api, "city_rad")
    [open_one] = api.get("/api/station/consultations", headers=expert).json()
    assert open_one["study_id"] == study_id and open_one["asked_by"] == "rad 医生"
    view = api.get(f"/api/station/studies/{study_id}", headers=expert)
    assert view.status_code == 200 and view.json()["study"]["state"] == "escalated"
    assert api.get(f"/api/station/studies/{study_id}/images", headers=expert).status_code == 200
    assert api.get(f"/api/station/studies/{study_id}", headers=login(api, "card")).status_code == 404
    assert api.post(f"/api/station/consultations/{open_one['id']}/answer", headers=login(api, "rad"),
                    json={"text": "no"}).status_code == 403
    answered = api.post(f"/api/station/consultations/{open_one['id']}/answer", headers=expert,
                        json={"text": "考虑良性，建议 3 个月后复查 CT。"})
    assert answered.status_code == 200 and answered.json()["answered_by"] == "city_rad 专家"
    assert api.get("/api/station/consultations", headers=expert).json() == []
    assert api.get(f"/api/station/studies/{study_id}", headers=login(api, "rad")).json()["study"]["state"] \
        == "in_review"
    mine = api.get("/api/station/consultations", headers=login(api, "rad"), params={"open_only": False}).json()
    assert mine[0]["answer"].startswith("考虑良性")

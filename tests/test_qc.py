"""QC peer review: deterministic sampling, the QC queue and verdicts, recognition loss, statistics."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from sharedcenter.config import Settings, load_settings
from sharedcenter.db.models import Report
from sharedcenter.qc import is_sampled
from sharedcenter.services import Services
from sharedcenter.studies import record_preread
from tests.conftest import login
from tests.test_recognition import _hospital, _signed_ecg
from tests.utils import simulated_wfdb


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Every signed report is sampled, so the tests see the queue."""
    return load_settings(env="test", data_dir=tmp_path / "var", secret_key="test-secret-key", qc_sample_rate=1.0)


def test_sampling_is_deterministic_and_near_the_rate() -> None:
    picks = [i for i in range(1, 20001) if is_sampled(i, 0.05)]
    assert picks == [i for i in range(1, 20001) if is_sampled(i, 0.05)]
    assert 0.045 < len(picks) / 20000 < 0.055
    assert set(picks) <= {i for i in range(1, 20001) if is_sampled(i, 0.10)}  # a higher rate keeps them
    assert not is_sampled(7, 0.0) and is_sampled(7, 1.0)
    with pytest.raises(ValueError, match="rate"):
        is_sampled(1, 1.5)


def _signed(api: httpx.Client, tmp_path: Path, seed: int, impression: str) -> dict[str, object]:
    files = simulated_wfdb(tmp_path, seed=seed)
    up = api.post("/api/uploads", headers=login(api, "tech"), files=[("files", (n, b)) for n, b in files.items()])
    signed = api.post(f"/api/studies/{up.json()['studies'][0]['id']}/report", headers=login(api, "card"),
                      json={"impression": impression})
    assert signed.status_code == 201, signed.text
    out: dict[str, object] = signed.json()
    return out


def _ai(services: Services, report: dict[str, object], codes: list[str], rate: float) -> None:
    with services.db.session() as session:
        row = session.get(Report, int(str(report["id"])))
        assert row is not None
        record_preread(session, row.study_id, {
            "algorithm": "ecg-rate", "version": "1.0", "measurements": {"heart_rate_bpm": rate},
            "findings": [{"code": c, "flagged": True} for c in codes]})


def test_major_discrepancy_suspends_recognition_until_amended(api: httpx.Client, services: Services,
                                                               tmp_path: Path) -> None:
    report = _signed_ecg(api, services, tmp_path)
    qc, hospital = login(api, "qc"), _hospital(services)
    params = {"patient": str(report["patient_id"])}
    assert len(api.get("/api/recognition", params=params, headers=hospital).json()) == 1
    assert api.get("/api/qc/queue", headers=login(api, "card")).status_code == 403
    [queued] = api.get("/api/qc/queue", headers=qc).json()
    assert queued["report_id"] == report["id"] and queued["verdict"] is None
    body = {"report_id": report["id"], "verdict": "major"}
    assert api.post("/api/qc/reviews", headers=qc, json=body).status_code == 422  # a comment is required
    assert api.post("/api/qc/reviews", headers=login(api, "card"), json={**body, "comment": "x"}).status_code == 403
    done = api.post("/api/qc/reviews", headers=qc, json={**body, "comment": "漏诊 ST 段改变"})
    assert done.status_code == 201 and done.json()["verdict"] == "major", done.text
    assert api.post("/api/qc/reviews", headers=qc, json={**body, "comment": "again"}).status_code == 409
    assert api.get("/api/qc/queue", headers=qc).json() == []
    assert api.get("/api/recognition", params=params, headers=hospital).json() == []
    amended = api.post(f"/api/studies/{report['study_id']}/report", headers=login(api, "card"),
                       json={"impression": "ST 段改变，建议复查。", "amendment_reason": "QC 复核"})
    assert amended.status_code == 201
    [found] = api.get("/api/recognition", params=params, headers=hospital).json()
    assert found["report_id"] == amended.json()["id"]
    assert [q["report_id"] for q in api.get("/api/qc/queue", headers=qc).json()] == [amended.json()["id"]]
    assert api.post("/api/qc/reviews", headers=qc,
                    json={"report_id": amended.json()["id"], "verdict": "agree"}).status_code == 201


def test_stats_agreement_per_model_and_center(api: httpx.Client, services: Services, tmp_path: Path) -> None:
    agree = _signed(api, tmp_path, 1, "正常心电图。")  # the AI's normal rate, the specialist's normal ECG
    _ai(services, agree, [], 72.0)
    disagree = _signed(api, tmp_path, 2, "窦性心律，正常心电图。")  # the AI said tachycardia
    _ai(services, disagree, ["tachycardia"], 120.0)
    skipped = _signed(api, tmp_path, 3, "窦性心动过速。")
    _ai(services, skipped, ["rate-uncertain"], 80.0)
    assert api.get("/api/qc/stats", headers=login(api, "card")).status_code == 403
    stats = api.get("/api/qc/stats", headers=login(api, "qc")).json()
    assert "normal-rate" in stats["agreement_definition"]
    model = stats["agreement_per_model"]["ecg-rate 1.0"]
    assert (model["compared"], model["agree"], model["disagree"], model["not_comparable"]) == (2, 1, 1, 1)
    assert model["agreement"] == 0.5 and stats["agreement_per_center"]["c01-ecg"]["agreement"] == 0.5
    turnaround = stats["turnaround_per_center"]["c01-ecg"]
    assert turnaround["reports"] == 3 and turnaround["median_minutes"] >= 0
    assert stats["qc_verdicts_per_center"]["c01-ecg"] == {"pending": 3}

"""The whole path on the embedded defaults, with a real worker process and the real (filesystem) broker:
upload -> pre-read -> worklist -> sign -> the clinic sees the report, all through the HTTP API."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydicom.data import get_testdata_file

from sharedcenter.auth import Principal
from sharedcenter.services import Services
from tests.conftest import login, serve_api
from tests.utils import dicom_bytes, simulated_wfdb
from tests.utils.processes import poll, worker_process

pytestmark = pytest.mark.slow


def _states(client: httpx.Client, headers: dict[str, str]) -> dict[int, str]:
    return {s["id"]: s["state"] for s in client.get("/api/studies", headers=headers).json()}


def run_path(client: httpx.Client, tmp_path: Path) -> None:
    """Upload a CT, a simulated 72 bpm WFDB ECG and pydicom's DICOM ECG; pre-read; sign; clinic view."""
    tech = login(client, "tech")
    files = {"ct.dcm": dicom_bytes("CT_small.dcm"), **simulated_wfdb(tmp_path, heart_rate=72),
             "ecg.dcm": Path(str(get_testdata_file("waveform_ecg.dcm"))).read_bytes()}
    uploaded = client.post("/api/uploads", headers=tech, files=[("files", (n, b)) for n, b in files.items()])
    assert uploaded.status_code == 201, uploaded.text
    ids = {s["id"]: s["kind"] for s in uploaded.json()["studies"]}
    ct, sim, dicom_ecg = ids  # images first, then the ECG records in upload order
    assert list(ids.values()) == ["dicom", "ecg", "ecg"]
    poll(lambda: all(_states(client, tech).get(i) == "preread" for i in ids), 180, "all three pre-reads")

    card = login(client, "card")
    worklist = client.get("/api/worklist", headers=card).json()
    assert {s["id"] for s in worklist} == {i for i, k in ids.items() if k == "ecg"}
    rates = {}
    for study in worklist:
        rows = client.get(f"/api/studies/{study['id']}", headers=card).json()["ai_results"]
        [quality] = [row for row in rows if row["algorithm"] == "sharedcenter.ecg-quality"]  # stored at upload
        assert quality["measurements"]["verdict"] in {"acceptable", "acceptable_with_warnings", "repeat_recording"}
        [ai] = [row for row in rows if row["algorithm"] != "sharedcenter.ecg-quality"]
        assert ai["preliminary"] and ai["automatic"] and ai["preliminary_text"].startswith("【AI 预阅")
        rates[study["id"]] = ai["measurements"]["heart_rate_bpm"]
    assert abs(rates[sim] - 72) <= 3 and 40 < rates[dicom_ecg] < 120, rates
    [ai] = client.get(f"/api/studies/{ct}", headers=login(client, "rad")).json()["ai_results"]
    assert ai["algorithm"] == "sharedcenter.dicom-summary" and ai["measurements"]["images"][0]["rows"] == 128

    target = worklist[0]["id"]
    signed = client.post(f"/api/studies/{target}/report", headers=card,
                         json={"findings": "窦性心律。", "impression": "正常心电图。"})
    assert signed.status_code == 201, signed.text
    reports = client.get("/api/sites/c01-t01/reports", headers=tech).json()
    assert [r["study_id"] for r in reports] == [target]
    pdf = client.get(reports[0]["pdf_url"], headers=tech)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert _states(client, tech)[target] == "signed"


def test_embedded_path(services: Services, people: dict[str, Principal], tmp_path: Path, receiver: Any) -> None:
    """...and the clinic's own system hears about it: signed webhooks delivered by the worker process."""
    receiver.statuses = [503]  # the clinic's system is down at first: the worker retries
    services.settings.webhook_backoff_s = 0.5
    with worker_process(services.settings, tmp_path / "worker.log"), serve_api(services) as url, \
            httpx.Client(base_url=url, timeout=60) as client:
        hook = {"site_code": "c01-t01", "url": receiver.url, "secret": "clinic-secret-0123456789"}
        assert client.post("/api/webhooks", headers=login(client, "admin"), json=hook).status_code == 201
        run_path(client, tmp_path)
        events = poll(lambda: _events(receiver) >= {"preliminary-ready", "final-ready"} and _events(receiver), 60,
                      "the webhooks to arrive")
        assert "preliminary-ready" in events
    for headers, raw in receiver.received:
        digest = hmac.new(b"clinic-secret-0123456789", raw, hashlib.sha256).hexdigest()
        assert headers["X-SharedCenter-Signature"] == f"sha256={digest}"


def _events(receiver: Any) -> set[str]:
    return {json.loads(raw)["event"] for _, raw in receiver.received[1:]}  # the first answer was 503

"""Webhooks to the clinic: admin registration, HMAC-signed events, retries against a real HTTP receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx
import pytest

from sharedcenter.db.models import WebhookDelivery
from sharedcenter.services import Services
from sharedcenter.studies import record_preread
from tests.conftest import login
from tests.utils import dicom_bytes
from worker._webhooks import run_delivery

SECRET = "clinic-shared-secret-0123"


def test_final_ready_retried_until_acknowledged(api: httpx.Client, services: Services, receiver: Any,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[int] = []
    monkeypatch.setattr(services.queue, "send_webhook", lambda d, countdown=0.0: sent.append(d), raising=False)
    body = {"site_code": "c01-t01", "url": receiver.url, "secret": SECRET}
    assert api.post("/api/webhooks", headers=login(api, "tech"), json=body).status_code == 403
    assert api.post("/api/webhooks", headers=login(api, "admin"), json={**body, "secret": "short"}).status_code == 422
    assert api.post("/api/webhooks", headers=login(api, "admin"), json=body).status_code == 201
    assert [e["url"] for e in api.get("/api/webhooks", headers=login(api, "admin")).json()] == [receiver.url]
    study = api.post("/api/uploads", headers=login(api, "tech"),
                     files=[("files", ("a.dcm", dicom_bytes()))]).json()["studies"][0]["id"]
    signed = api.post(f"/api/studies/{study}/report", headers=login(api, "rad"), json={"impression": "未见异常"})
    assert signed.status_code == 201
    [delivery] = sent  # queued after the commit
    first = run_delivery(services, delivery)
    assert not first.delivered and first.retry_in == services.settings.webhook_backoff_s and first.attempts == 1
    second = run_delivery(services, delivery)
    assert second.delivered and second.attempts == 2
    assert run_delivery(services, delivery).attempts == 2  # acknowledged: no third POST
    assert len(receiver.received) == 2
    headers, raw = receiver.received[-1]
    expected = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-SharedCenter-Signature"], expected)
    assert headers["X-SharedCenter-Event"] == "final-ready" and headers["X-SharedCenter-Timestamp"].isdigit()
    payload = json.loads(raw)
    assert payload["event"] == "final-ready" and payload["data"]["report_id"] == signed.json()["id"]
    assert payload["delivery_id"] == delivery
    with services.db.session() as session:
        row = session.get(WebhookDelivery, delivery)
        assert row is not None and row.attempts == 2 and row.delivered_at is not None and row.last_error is None


def test_preread_and_critical_events_and_giving_up(api: httpx.Client, services: Services,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services.settings, "webhook_max_attempts", 2)
    api.post("/api/webhooks", headers=login(api, "admin"),
             json={"site_code": "c01-t01", "url": "http://127.0.0.1:9/nothing-listens", "secret": SECRET})
    study = api.post("/api/uploads", headers=login(api, "tech"),
                     files=[("files", ("a.dcm", dicom_bytes()))]).json()["studies"][0]["id"]
    with services.db.session() as session:
        record_preread(session, study, {"algorithm": "cxr", "version": "1", "critical": True,
                                        "findings": [{"code": "pneumothorax", "critical": True}]})
    with services.db.session() as session:
        rows = session.query(WebhookDelivery).order_by(WebhookDelivery.id).all()
        assert [r.event for r in rows] == ["preliminary-ready", "critical-finding"]
        assert rows[1].payload["data"]["findings"] == [{"code": "pneumothorax", "critical": True}]
        ids = [r.id for r in rows]
    first = run_delivery(services, ids[0])
    assert not first.delivered and first.retry_in is not None
    last = run_delivery(services, ids[0])
    assert not last.delivered and last.retry_in is None and last.attempts == 2  # given up
    with services.db.session() as session:
        row = session.get(WebhookDelivery, ids[0])
        assert row is not None and row.last_error and row.delivered_at is None

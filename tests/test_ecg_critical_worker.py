"""A critical ECG through a real worker process: worklist top at once, the clinic's webhook, the audit trail.

The worker is ``sharedcenter worker`` (tests/utils/processes.py) on the embedded defaults (filesystem
broker, SQLite, folder object store), the clinic's system a real HTTP receiver (tests/conftest.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import wfdb
from sqlalchemy import select

from sharedcenter.auth import Principal
from sharedcenter.db import AuditEvent, Study
from sharedcenter.services import Services
from sharedcenter.studies import UploadedFile, ingest_upload, worklist
from sharedcenter.webhooks import add_endpoint
from tests.utils import simulated_wfdb
from tests.utils.ecg_synthetic import complete_heart_block
from tests.utils.processes import poll, worker_process

pytestmark = pytest.mark.slow
SECRET = "clinic-secret-0123456789"


def _chb_upload(folder: Path) -> list[UploadedFile]:
    """A constructed complete heart block (P 78/min, escape rhythm 38 bpm) as a WFDB record."""
    record = complete_heart_block()
    wfdb.wrsamp("chb", fs=record.fs, units=["mV"] * 12, sig_name=list(record.leads),
                p_signal=np.asarray(record.signal, dtype=float), fmt=["16"] * 12, write_dir=str(folder))
    return [UploadedFile(p.name, p.read_bytes()) for p in (folder / "chb.hea", folder / "chb.dat")]


def _states(services: Services, ids: list[int]) -> dict[int, str]:
    with services.db.session() as session:
        return {i: session.get(Study, i).state for i in ids}  # type: ignore[union-attr]


def test_critical_ecg_goes_to_the_top_and_notifies_clinic_and_center(
    services: Services, people: dict[str, Principal], tmp_path: Path, receiver: Any
) -> None:
    receiver.statuses = [200]
    with services.db.session() as session:
        add_endpoint(session, people["admin"], "c01-t01", receiver.url, SECRET)
    with services.db.session() as session:  # a routine normal ECG first: without the alarm it would lead
        normal = [UploadedFile(n, b) for n, b in simulated_wfdb(tmp_path / "n", heart_rate=72).items()]
        [routine] = ingest_upload(services, session, "c01-t01", normal)
        [chb] = ingest_upload(services, session, "c01-t01", _chb_upload(tmp_path))
        ids = [routine.study.id, chb.study.id]
    with worker_process(services.settings, tmp_path / "worker.log"):
        poll(lambda: set(_states(services, ids).values()) == {"preread"}, 180, "both ECG pre-reads")
        delivered = poll(lambda: [json.loads(raw) for _, raw in receiver.received
                                  if json.loads(raw)["event"] == "critical-finding"], 60, "the critical webhook")
    with services.db.session() as session:
        top = worklist(session, people["card"])
        assert [s.id for s in top] == [ids[1], ids[0]] and top[0].critical and not top[1].critical
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "study.critical_notified")).all()
        assert event.study_id == ids[1] and event.actor == "system:worker"
        assert event.detail["site"] == "c01-t01" and event.detail["center"] == "c01-ecg"
        assert "complete-av-block" in event.detail["findings"] and len(event.detail["webhook_deliveries"]) == 1
    [hook] = delivered
    assert hook["site"] == "c01-t01" and hook["data"]["study_id"] == ids[1] and hook["data"]["critical"]
    assert [f["code"] for f in hook["data"]["findings"]] == ["complete-av-block"]
    assert "三度房室传导阻滞" in hook["data"]["preliminary_text"]

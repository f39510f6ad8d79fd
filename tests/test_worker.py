"""The worker's pre-read service and its Celery wiring, in-process (the worker process itself is run
by test_end_to_end and test_real_servers)."""

from __future__ import annotations

import datetime as dt
import json
import shutil

from sqlalchemy import select

from sharedcenter.auth import Principal
from sharedcenter.db import AIResult, AuditEvent, Study
from sharedcenter.queue.celery import PREREAD_TASK
from sharedcenter.services import Services
from sharedcenter.studies import UploadedFile, ingest_upload, queue_stale_studies
from tests.utils import dicom_bytes
from worker import create_worker_app
from worker._preread import run_preread


def _ingest(services: Services) -> int:
    with services.db.session() as session:
        [outcome] = ingest_upload(services, session, "c01-t01", [UploadedFile("a.dcm", dicom_bytes())])
        return outcome.study.id


def test_preread_is_stored_once(services: Services, people: dict[str, Principal]) -> None:
    study_id = _ingest(services)
    assert run_preread(services, study_id) == "stored"
    assert run_preread(services, study_id) == "skipped"  # redelivered message: harmless
    with services.db.session() as session:
        study = session.get(Study, study_id)
        assert study is not None and study.state == "preread"
        [row] = session.scalars(select(AIResult)).all()
        assert row.algorithm == "sharedcenter.dicom-summary" and row.timings["total_s"] >= 0
        actions = [e.action for e in session.scalars(select(AuditEvent).where(AuditEvent.study_id == study_id))]
        assert actions.count("preread.stored") == 1


def test_unreadable_input_marks_the_study_failed(services: Services, people: dict[str, Principal]) -> None:
    study_id = _ingest(services)
    shutil.rmtree(services.settings.dicom_folder)  # type: ignore[arg-type]
    services.settings.dicom_folder.mkdir()  # type: ignore[union-attr]
    assert run_preread(services, study_id) == "failed"
    with services.db.session() as session:
        study = session.get(Study, study_id)
        assert study is not None and study.state == "failed" and "no instances" in (study.error or "")
        reason = session.scalars(select(AuditEvent).where(AuditEvent.action == "preread.failed")).one().detail
        assert "no instances" in reason["reason"]


def test_stale_studies_are_queued_again(services: Services, people: dict[str, Principal]) -> None:
    study_id = _ingest(services)
    for path in (services.settings.broker_folder / "out").glob("*.msg"):
        path.unlink()  # the message was lost
    with services.db.session() as session:
        assert queue_stale_studies(session, services.queue, dt.timedelta(minutes=5)) == []
        session.get(Study, study_id).updated_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)  # type: ignore[union-attr]
    with services.db.session() as session:
        assert queue_stale_studies(session, services.queue, dt.timedelta(minutes=5)) == [study_id]
    [msg] = (services.settings.broker_folder / "out").glob("*.msg")
    assert json.loads(msg.read_text())["headers"]["task"] == PREREAD_TASK


def test_worker_app_settings(services: Services) -> None:
    app = create_worker_app(services.settings)
    task = app.tasks[PREREAD_TASK]
    assert task.acks_late and app.conf.worker_prefetch_multiplier == 1
    assert {q.name for q in app.conf.task_queues} == {"cpu", "gpu"}
    assert app.conf.task_reject_on_worker_lost

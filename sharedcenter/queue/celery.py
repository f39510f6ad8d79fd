"""Celery adapter of the task queue, and the one place Celery is configured from the settings.

The API only *sends* tasks by name (``send_task``), so ``sharedcenter`` never imports ``worker``.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu.entity import Exchange, Queue

from sharedcenter.config import Settings
from sharedcenter.enums import StudyKind
from sharedcenter.queue.base import TaskQueue

__all__ = [
    "EXPORT_TASK",
    "PREREAD_TASK",
    "QUEUE_FOR_KIND",
    "WEBHOOK_TASK",
    "CeleryTaskQueue",
    "celery_config",
    "make_celery",
]

PREREAD_TASK = "worker.preread"
EXPORT_TASK = "worker.export_report"
WEBHOOK_TASK = "worker.deliver_webhook"
#: ECG pre-reads are light CPU work; imaging pre-reads run the image models on the GPU workers.
QUEUE_FOR_KIND = {StudyKind.ECG: "cpu", StudyKind.DICOM: "gpu"}


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery settings derived from ours (the ``celery_`` namespace of one settings object)."""
    conf: dict[str, Any] = {
        "broker_url": settings.broker_url,
        "task_queues": tuple(
            Queue(q, Exchange(q, type="direct"), routing_key=q)  # type: ignore[no-untyped-call]
            for q in ("cpu", "gpu")
        ),
        "task_default_exchange": "cpu",
        "task_default_routing_key": "cpu",
        "task_default_queue": "cpu",
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_ignore_result": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "broker_connection_retry_on_startup": True,
        "worker_hijack_root_logger": False,
        "broker_connection_timeout": 5,
    }
    if settings.is_embedded_broker:
        folder = settings.broker_folder
        for sub in ("out", "processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        conf["broker_transport_options"] = {
            "data_folder_in": str(folder / "out"),
            "data_folder_out": str(folder / "out"),
            "processed_folder": str(folder / "processed"),
            "control_folder": str(folder / "control"),
            "store_processed": False,
            "polling_interval": 0.05,
        }
    elif settings.broker_url.startswith(("redis://", "rediss://")):
        # a task not acked within this time is given to another worker; pre-reads take seconds
        conf["broker_transport_options"] = {"visibility_timeout": 3600}
    return conf


def make_celery(settings: Settings, name: str = "sharedcenter") -> Celery:
    app = Celery(name, set_as_current=False)
    app.conf.update(celery_config(settings))
    return app


class CeleryTaskQueue(TaskQueue):
    """Sends tasks by name through a producer-only Celery app."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def send_preread(self, study_id: int, kind: StudyKind) -> None:
        from sharedcenter.audit import correlation_id

        self.app.send_task(
            PREREAD_TASK,
            args=(study_id,),
            queue=QUEUE_FOR_KIND[StudyKind(kind)],
            headers={"correlation_id": correlation_id.get()},
        )

    def send_report_export(self, report_id: int) -> None:
        from sharedcenter.audit import correlation_id

        self.app.send_task(EXPORT_TASK, args=(report_id,), queue="cpu",
                           headers={"correlation_id": correlation_id.get()})

    def send_webhook(self, delivery_id: int, countdown: float = 0.0) -> None:
        from sharedcenter.audit import correlation_id

        self.app.send_task(WEBHOOK_TASK, args=(delivery_id,), queue="cpu", countdown=countdown or None,
                           headers={"correlation_id": correlation_id.get()})

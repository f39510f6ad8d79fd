"""The Celery application of the workers: queues ``cpu`` and ``gpu``, late acks, prefetch 1."""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery, Task
from celery.signals import task_postrun, task_prerun

from sharedcenter.audit import correlation_id
from sharedcenter.config import Settings
from sharedcenter.errors import InvalidInput, NotFound, StorageError, StorageUnavailable
from sharedcenter.queue.celery import EXPORT_TASK, PREREAD_TASK, WEBHOOK_TASK, make_celery
from sharedcenter.services import Services
from worker import _export, _preread, _webhooks

__all__ = ["create_worker_app"]

logger = logging.getLogger(__name__)


class _ProcessServices:
    """Services built lazily once per worker process (after the fork), never at import."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._services: Services | None = None

    def get(self) -> Services:
        if self._services is None:
            self._services = Services.from_settings(self.settings)
        return self._services


def create_worker_app(settings: Settings) -> Celery:
    """The worker's Celery app with its tasks registered."""
    app = make_celery(settings, "sharedcenter-worker")
    services = _ProcessServices(settings)

    class PrereadTask(Task):  # type: ignore[misc]
        def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
            if args and not isinstance(exc, NotFound):
                _preread.fail(services.get(), int(args[0]), f"{type(exc).__name__}: {exc}")

    @app.task(  # type: ignore[untyped-decorator]
        name=PREREAD_TASK, base=PrereadTask, bind=True, acks_late=True,
        autoretry_for=(StorageUnavailable,), retry_backoff=2, retry_backoff_max=300, retry_jitter=True,
        max_retries=settings.task_default_retries, throws=(InvalidInput, NotFound),
    )
    def preread(self: Task, study_id: int) -> str:
        return _preread.run_preread(services.get(), int(study_id))

    @app.task(  # type: ignore[untyped-decorator]
        name=EXPORT_TASK, acks_late=True, autoretry_for=(StorageError,), retry_backoff=5, retry_backoff_max=600,
        retry_jitter=True, max_retries=settings.task_default_retries * 4, throws=(NotFound, InvalidInput),
    )
    def export_report(report_id: int) -> str:
        """Retry of a signed report's DICOM export (the store did not answer at signing)."""
        return _export.run_export(services.get(), int(report_id))

    @app.task(  # type: ignore[untyped-decorator]
        name=WEBHOOK_TASK, bind=True, acks_late=True, max_retries=None, throws=(NotFound,),
    )
    def deliver_webhook(self: Task, delivery_id: int) -> str:
        """One attempt; a refused or failed one is retried after the recorded back-off."""
        outcome = _webhooks.run_delivery(services.get(), int(delivery_id))
        if outcome.retry_in is not None:
            raise self.retry(countdown=outcome.retry_in)
        return "delivered" if outcome.delivered else "given-up"

    app.conf.sharedcenter_services = services
    return app


@task_prerun.connect  # type: ignore[untyped-decorator]
def _set_correlation(task: Task | None = None, **_: Any) -> None:
    if task is not None:
        correlation_id.set(getattr(task.request, "correlation_id", None))


@task_postrun.connect  # type: ignore[untyped-decorator]
def _clear_correlation(**_: Any) -> None:
    correlation_id.set(None)

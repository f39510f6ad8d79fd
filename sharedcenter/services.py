"""The wiring of one running sharedcenter: settings, database, stores and queue, built once."""

from __future__ import annotations

import dataclasses

from sharedcenter.config import Settings
from sharedcenter.db import Database
from sharedcenter.queue.base import TaskQueue
from sharedcenter.storage import (
    DicomStore,
    ObjectStore,
    dicom_store_from_settings,
    object_store_from_settings,
)

__all__ = ["Services"]


@dataclasses.dataclass
class Services:
    settings: Settings
    db: Database
    dicom_store: DicomStore
    object_store: ObjectStore
    queue: TaskQueue

    @classmethod
    def from_settings(cls, settings: Settings, queue: TaskQueue | None = None) -> Services:
        """Build every adapter the settings name; ``queue`` defaults to the Celery producer."""
        if queue is None:
            from sharedcenter.queue.celery import CeleryTaskQueue, make_celery

            queue = CeleryTaskQueue(make_celery(settings, "sharedcenter-producer"))
        return cls(
            settings=settings,
            db=Database.from_settings(settings),
            dicom_store=dicom_store_from_settings(settings),
            object_store=object_store_from_settings(settings),
            queue=queue,
        )

    def close(self) -> None:
        self.db.dispose()

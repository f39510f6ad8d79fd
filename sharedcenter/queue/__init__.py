"""The task queue port (enqueue after commit) and its Celery adapter."""

from sharedcenter.queue.base import TaskQueue, enqueue_after_commit

__all__ = ["TaskQueue", "enqueue_after_commit"]

"""The task queue port (enqueue after commit) and its Celery adapter."""

from sharedcenter.queue.base import TaskQueue, call_after_commit, enqueue_after_commit

__all__ = ["TaskQueue", "call_after_commit", "enqueue_after_commit"]

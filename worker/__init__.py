"""The Celery workers: queues, routing (cpu / gpu), and the tasks that run the pre-read pipelines."""

from worker.app import create_worker_app

__all__ = ["create_worker_app", "main"]


def main(argv: list[str] | None = None) -> None:
    """Run a worker on the settings from the environment (``sharedcenter worker`` calls this)."""
    from sharedcenter.config import get_settings

    app = create_worker_app(get_settings())
    app.worker_main(argv or ["worker", "--queues", "cpu,gpu", "--loglevel", "INFO"])

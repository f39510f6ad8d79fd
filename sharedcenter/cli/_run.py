"""Running the services: API server, worker, one catch-up with the DICOM store."""

from __future__ import annotations

import click

from sharedcenter.cli._common import fail_cleanly, settings_or_exit, setup_logging

__all__ = ["serve", "sync", "worker"]


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@fail_cleanly
def serve(host: str, port: int) -> None:
    """Serve the API and the reading station."""
    import uvicorn

    from sharedcenter.api import create_app
    from sharedcenter.services import Services

    setup_logging()
    services = Services.from_settings(settings_or_exit())
    services.db.upgrade()
    uvicorn.run(create_app(services), host=host, port=port, log_level="info")


@click.command()
@click.option("--queues", default="cpu,gpu", show_default=True, help="queues to consume")
@click.option("--concurrency", type=int, default=None, help="processes (default from settings)")
@click.option("--pool", default="prefork", show_default=True, type=click.Choice(["prefork", "solo", "threads"]))
def worker(queues: str, concurrency: int | None, pool: str) -> None:
    """Run a Celery worker for the pre-read pipelines."""
    from worker import create_worker_app

    settings = settings_or_exit()
    app = create_worker_app(settings)
    app.worker_main(["worker", "--queues", queues, "--loglevel", "INFO", "--pool", pool,
                     "--concurrency", str(concurrency or settings.worker_concurrency), "--without-gossip",
                     "--without-mingle", "--without-heartbeat"])


@click.command()
@fail_cleanly
def sync() -> None:
    """Catch up once with the DICOM store's change feed (normally the server does this itself)."""
    from sharedcenter.services import Services
    from sharedcenter.studies import complete_counted_studies, sync_dicom_store

    services = Services.from_settings(settings_or_exit())
    services.db.upgrade()
    report = sync_dicom_store(services)
    counted = complete_counted_studies(services)
    click.echo(f"seen {report.seen}, new studies {report.created}, refused {report.refused}, "
               f"cursor {report.cursor}, complete by expected count {len(counted)}")

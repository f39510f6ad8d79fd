"""``sharedcenter mwl serve``: the DICOM Modality Worklist SCP for the township modalities."""

from __future__ import annotations

import logging

import click

from sharedcenter.cli._common import fail_cleanly, settings_or_exit, setup_logging

__all__ = ["mwl"]


@click.group()
def mwl() -> None:
    """DICOM Modality Worklist (C-FIND) of the scheduled orders."""


@mwl.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=11112, show_default=True, type=click.IntRange(1, 65535))
@click.option("--ae-title", default="SCMWL", show_default=True, help="this worklist SCP's AE title")
@fail_cleanly
def serve(host: str, port: int, ae_title: str) -> None:
    """Answer C-FIND from the sites' modalities (AE titles of the region) with their scheduled orders."""
    from sharedcenter.db import Database
    from sharedcenter.mwl.server import WorklistServer

    setup_logging()
    # pynetdicom logs every identifier at INFO: patient names and IDs do not belong in the log
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    settings = settings_or_exit()
    db = Database.from_settings(settings)
    db.upgrade()
    click.echo(f"worklist SCP {ae_title} on {host}:{port}", err=True)
    try:
        WorklistServer(db, settings, ae_title=ae_title, host=host, port=port).serve_forever()
    finally:
        db.dispose()

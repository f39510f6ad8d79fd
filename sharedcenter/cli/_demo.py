"""``sharedcenter demo``."""

from __future__ import annotations

import json

import click

from sharedcenter.cli._common import fail_cleanly, settings_or_exit, setup_logging

__all__ = ["demo"]


@click.command()
@click.option("--port", type=int, default=None, help="API port (default 8000; a free one with --once)")
@click.option("--once", is_flag=True, help="run the flow, print a JSON summary as the last line, and exit")
@fail_cleanly
def demo(port: int | None, once: bool) -> None:
    """Run the whole pipeline on the embedded defaults: region, users, samples, pre-reads, a signature."""
    from sharedcenter.demo import run_demo

    setup_logging("WARNING")
    summary = run_demo(settings_or_exit(), port, once, lambda line: click.echo(line, err=once))
    if once:
        click.echo(json.dumps(summary, ensure_ascii=False))

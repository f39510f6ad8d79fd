"""``sharedcenter agent``: the township agent (``run``) and its spool's state (``status``)."""

from __future__ import annotations

import json
import logging
import signal
import threading
from pathlib import Path
from types import FrameType

import click

from sharedcenter.agent import AgentConfig, ForwardPolicy, run_agent, spool_status
from sharedcenter.cli._common import fail_cleanly

__all__ = ["agent"]

_ENV = "SHAREDCENTER_AGENT_"


@click.group()
def agent() -> None:
    """Township agent: receive from the modality or a folder, spool durably, forward to the county."""


@agent.command()
@click.option("--spool", type=click.Path(file_okay=False, path_type=Path), required=True, envvar=f"{_ENV}SPOOL",
              help="spool folder (queue, journal, failed/, rejected/)")
@click.option("--county", required=True, envvar=f"{_ENV}COUNTY", help="sharedcenter's base URL at the county")
@click.option("--token", required=True, envvar=f"{_ENV}TOKEN", help="the site's API token")
@click.option("--site", envvar=f"{_ENV}SITE", help="site code (a technician's token names it already)")
@click.option("--listen", "listen_port", type=int, envvar=f"{_ENV}LISTEN", help="DICOM port for C-STORE")
@click.option("--host", "listen_host", default="0.0.0.0", show_default=True, envvar=f"{_ENV}HOST")
@click.option("--ae-title", default="SCAGENT", show_default=True, envvar=f"{_ENV}AE_TITLE")
@click.option("--allow-aet", "allowed_aets", multiple=True, envvar=f"{_ENV}ALLOW_AET",
              help="calling AE title allowed to send (repeat; env: space-separated); default any")
@click.option("--watch", type=click.Path(exists=True, file_okay=False, path_type=Path), envvar=f"{_ENV}WATCH",
              help="folder to take finished DICOM files from")
@click.option("--watch-stable", "watch_stable_s", type=float, default=2.0, show_default=True,
              envvar=f"{_ENV}WATCH_STABLE", help="seconds a file's size must stay unchanged")
@click.option("--quiet", "quiet_s", type=float, default=5.0, show_default=True, envvar=f"{_ENV}QUIET",
              help="seconds without new instances after which a study is declared complete")
@click.option("--batch", "batch_max", type=int, default=16, show_default=True, envvar=f"{_ENV}BATCH")
@click.option("--backoff-base", type=float, default=1.0, show_default=True, envvar=f"{_ENV}BACKOFF_BASE")
@click.option("--backoff-cap", type=float, default=60.0, show_default=True, envvar=f"{_ENV}BACKOFF_CAP")
@click.option("-v", "--verbose", is_flag=True)
@fail_cleanly
def run(spool: Path, county: str, token: str, site: str | None, listen_port: int | None, listen_host: str,
        ae_title: str, allowed_aets: tuple[str, ...], watch: Path | None, watch_stable_s: float, quiet_s: float,
        batch_max: int, backoff_base: float, backoff_cap: float, verbose: bool) -> None:
    """Run the agent until SIGTERM or Ctrl-C."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        policy = ForwardPolicy(quiet_s=quiet_s, batch_max=batch_max, backoff_base_s=backoff_base,
                               backoff_cap_s=backoff_cap)
        config = AgentConfig(spool=spool, county_url=county, token=token, site=site, listen_port=listen_port,
                             listen_host=listen_host, ae_title=ae_title, allowed_aets=allowed_aets, watch=watch,
                             watch_stable_s=watch_stable_s, policy=policy)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    run_agent(config, stop)


@agent.command()
@click.option("--spool", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
              envvar=f"{_ENV}SPOOL")
@click.option("--json", "as_json", is_flag=True, help="one JSON object")
def status(spool: Path, as_json: bool) -> None:
    """Queued, sent, failed and rejected counts, the oldest queued age and the last error."""
    try:
        state = spool_status(spool)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(state, ensure_ascii=False))
        return
    for key, value in state.items():
        click.echo(f"{key}: {'-' if value is None else value}")

"""``sharedcenter upload``: send files, folders, zips and DICOMDIRs of DICOM, and ECG records, to the county."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import click

from sharedcenter.cli._common import fail_cleanly
from sharedcenter.client import ApiClient
from sharedcenter.errors import InvalidInput, StorageUnavailable
from sharedcenter.upload import Batch, BatchLimits, Journal, RetryPolicy, Summary, collect, plan_batches, send_batches

__all__ = ["upload"]

_MIB = 1024 * 1024


@contextlib.contextmanager
def _progress(batches: list[Batch], quiet: bool) -> Iterator[Callable[[int], None] | None]:
    """click's bar on stderr when it is a terminal; one line when it is not; nothing with ``--quiet``."""
    err = click.get_text_stream("stderr")  # type: ignore[operator]
    files, studies = sum(len(b.items) for b in batches), len({b.group for b in batches})
    label = f"uploading {files} files ({studies} studies, {len(batches)} batches)"
    if quiet:
        yield None
    elif not err.isatty():
        click.echo(label, err=True)
        yield None
    else:
        with click.progressbar(length=sum(b.size for b in batches) or 1, label=label, file=err,
                               show_pos=False, show_percent=True, show_eta=True) as bar:
            yield bar.update


def _notify(message: str) -> None:
    """A retry's reason on stderr (on a new line when the bar is being drawn there)."""
    tty = click.get_text_stream("stderr").isatty()  # type: ignore[operator]
    click.echo(f"\n{message}" if tty else message, err=True)


def _echo_result(summary: Summary, as_json: bool, quiet: bool) -> None:
    if not quiet:
        for skipped in summary.skipped:
            click.echo(f"skipped {skipped.origin}: {skipped.reason}", err=True)
    if as_json:
        click.echo(json.dumps(summary.to_json(), ensure_ascii=False))
        return
    for s in summary.studies.values():
        click.echo(f"study {s['id']} {s['kind']} {s['modality']} {s['state']} ({s['instance_count']} instances)")
    click.echo(f"{summary.instances_sent} sent in {summary.batches_sent} batches ({summary.bytes / _MIB:.1f} MiB, "
               f"{summary.seconds:.1f} s), {summary.instances_resumed} already sent before "
               f"({summary.batches_skipped} batches), {len(summary.skipped)} skipped, "
               f"{summary.instances_failed} failed")


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--site", help="sending site code (technicians default to their own)")
@click.option("--url", default=lambda: os.environ.get("SHAREDCENTER_URL", "http://127.0.0.1:8000"),
              show_default="$SHAREDCENTER_URL or http://127.0.0.1:8000")
@click.option("--token", envvar="SHAREDCENTER_TOKEN", help="API token ($SHAREDCENTER_TOKEN)")
@click.option("--user", "username", help="log in with this user instead of a token")
@click.option("--password", envvar="SHAREDCENTER_PASSWORD", help="password for --user ($SHAREDCENTER_PASSWORD)")
@click.option("--json", "as_json", is_flag=True, help="print a JSON summary as the last line")
@click.option("--quiet", is_flag=True, help="no progress output (errors still go to stderr)")
@click.option("--resume/--no-resume", default=True, show_default=True,
              help="skip the batches an interrupted run of the same inputs had sent")
@click.option("--retries", type=click.IntRange(1), default=6, show_default=True,
              help="tries per batch on connection errors and HTTP 5xx")
@click.option("--retry-wait", type=click.FloatRange(0), default=0.5, show_default=True,
              help="seconds before the first retry (doubling, at most 30)")
@click.option("--batch-files", type=click.IntRange(1), default=32, show_default=True, help="files per request")
@click.option("--batch-mb", type=click.IntRange(1), default=32, show_default=True, help="MiB per request")
@click.option("--parallel", type=click.IntRange(1), default=2, show_default=True,
              help="studies sent at once (1: one after another)")
@fail_cleanly
def upload(paths: tuple[Path, ...], site: str | None, url: str, token: str | None, username: str | None,
           password: str | None, as_json: bool, quiet: bool, resume: bool, retries: int, retry_wait: float,
           batch_files: int, batch_mb: int, parallel: int) -> None:
    """Upload DICOM files, folders, zips and DICOMDIRs, and ECG records (WFDB .hea with its signal files,
    DICOM waveform, HL7 aECG, SCP-ECG), --parallel studies at once, each study's batches in order and
    the study declared complete after its last batch.

    An interrupted upload (killed, link down) is resumed by running the same command again: a journal
    under $XDG_STATE_HOME/sharedcenter/uploads/ remembers the batches the server acknowledged.
    """
    inputs = collect(paths)
    client = ApiClient(url, token)
    try:
        batches, duplicates = plan_batches(inputs.items, BatchLimits(batch_files, batch_mb * _MIB))
        if username:
            client.login(username, password or str(click.prompt("password", hide_input=True)))
        with Journal.for_upload(url, site, paths) as journal:
            if resume:
                journal.load()
            else:
                journal.discard()
            try:
                with _progress(batches, quiet) as progress:
                    summary = send_batches(client.http, batches, site, journal, progress=progress,
                                           retry=RetryPolicy(attempts=retries, first_wait=retry_wait),
                                           notify=None if quiet else _notify, parallel=parallel)
            except KeyboardInterrupt:
                click.echo("\ninterrupted: what the server acknowledged is kept; run the same command again to "
                           "send the rest", err=True)
                raise SystemExit(130) from None
            if summary.stopped is None and not summary.errors:
                journal.discard()
    finally:
        inputs.close()
        client.close()
    summary.skipped = inputs.skipped + duplicates
    _echo_result(summary, as_json, quiet)
    if isinstance(summary.stopped, StorageUnavailable):
        done = summary.batches_sent + summary.batches_skipped
        raise StorageUnavailable(f"{summary.stopped}; {done} of {len(batches)} batches are acknowledged: run the "
                                 "same command again to send the rest")
    if summary.stopped is not None:
        raise summary.stopped
    if summary.errors:
        raise InvalidInput("the server refused part of the upload: " + "; ".join(summary.errors))

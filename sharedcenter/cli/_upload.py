"""``sharedcenter upload``: send files, folders of DICOM and ECG records to the county."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from sharedcenter.cli._common import fail_cleanly
from sharedcenter.client import ApiClient, plan_upload

__all__ = ["upload"]


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--site", help="sending site code (technicians default to their own)")
@click.option("--url", default=lambda: os.environ.get("SHAREDCENTER_URL", "http://127.0.0.1:8000"),
              show_default="$SHAREDCENTER_URL or http://127.0.0.1:8000")
@click.option("--token", envvar="SHAREDCENTER_TOKEN", help="API token ($SHAREDCENTER_TOKEN)")
@click.option("--user", "username", help="log in with this user instead of a token")
@click.option("--password", envvar="SHAREDCENTER_PASSWORD", help="password for --user ($SHAREDCENTER_PASSWORD)")
@click.option("--json", "as_json", is_flag=True, help="print the studies as JSON")
@fail_cleanly
def upload(paths: tuple[Path, ...], site: str | None, url: str, token: str | None, username: str | None,
           password: str | None, as_json: bool) -> None:
    """Upload DICOM files or folders and ECG records (WFDB .hea with its signal files, DICOM waveform)."""
    batches = plan_upload(paths)
    client = ApiClient(url, token)
    try:
        if username:
            client.login(username, password or str(click.prompt("password", hide_input=True)))
        total = sum(b.size for b in batches)
        with click.progressbar(length=total, label=f"uploading {sum(len(b.paths) for b in batches)} files",
                               file=click.get_text_stream("stderr")) as bar:  # type: ignore[operator]
            studies = client.upload_all(batches, site, progress=bar.update)
    finally:
        client.close()
    if as_json:
        click.echo(json.dumps(studies, ensure_ascii=False))
        return
    for s in studies:
        tag = "duplicate, already stored" if s["duplicate"] else ("new" if s["created"] else "updated")
        click.echo(f"study {s['id']} {s['kind']} {s['modality']} {s['state']} ({tag})")

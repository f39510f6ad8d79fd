"""``sharedcenter orthanc config``: Orthanc's configuration, generated from the region."""

from __future__ import annotations

import json
from pathlib import Path

import click

from sharedcenter.cli._common import fail_cleanly, settings_or_exit

__all__ = ["orthanc"]

_SCRIPT = Path(__file__).resolve().parents[2] / "orthanc" / "notify.py"


@click.group()
def orthanc() -> None:
    """Orthanc, the DICOM store of a deployment."""


@orthanc.command("config")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--storage", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Orthanc's storage and index folder")
@click.option("--plugins", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="folder to fill with links to the plugins Orthanc should load")
@click.option("--http-port", default=8042, show_default=True)
@click.option("--dicom-port", default=4242, show_default=True)
@click.option("--aet", default="SHAREDCENTER", show_default=True, help="Orthanc's own AE title")
@click.option("--stable-age", type=int, default=None,
              help="quiet seconds before a C-STORE'd study counts (default SHAREDCENTER_ORTHANC_STABLE_AGE_S)")
@click.option("--check-host/--no-check-host", default=True, show_default=True,
              help="accept C-STORE only from the host registered for each AE title")
@click.option("--modality-host", default="127.0.0.1", show_default=True,
              help="host recorded for every site's AE title (edit the file per site for deployment)")
@fail_cleanly
def config(out: Path, storage: Path, plugins: Path, http_port: int, dicom_port: int, aet: str, stable_age: int | None,
           check_host: bool, modality_host: str) -> None:
    """Write Orthanc's JSON configuration: every site's AE title may store, nobody else."""
    from sharedcenter.api import notify_token
    from sharedcenter.orthanc_config import plugins_folder, render_orthanc_config
    from sharedcenter.region import read_region

    settings = settings_or_exit()
    spec = read_region(settings.region_file)
    conf = render_orthanc_config(
        name="sharedcenter", http_port=http_port, dicom_port=dicom_port, dicom_aet=aet, storage_dir=storage,
        users={settings.orthanc_user: settings.orthanc_password},
        modalities=[(site.ae_title, modality_host) for site in spec.sites],
        plugins_dir=plugins_folder(plugins), python_script=_SCRIPT,
        notify_url=f"{settings.public_url}/api/internal/dicom-store/changed", notify_token=notify_token(settings),
        stable_age=stable_age or settings.orthanc_stable_age_s, check_modality_host=check_host,
    )
    out.write_text(json.dumps(conf, indent=2, ensure_ascii=False))
    click.echo(f"wrote {out} ({len(spec.sites)} site AE titles)")

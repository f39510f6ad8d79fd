"""``sharedcenter ecg inspect``: read an ECG file locally and print its canonical summary."""

from __future__ import annotations

import json
from pathlib import Path

import click

from sharedcenter.cli._common import fail_cleanly
from sharedcenter.ecg.detect import WFDB_HEADER, detect_format, wfdb_signal_files
from sharedcenter.ecg.summary import summarize_ecg
from sharedcenter.errors import InvalidInput

__all__ = ["ecg"]


@click.group()
def ecg() -> None:
    """ECG files: inspect them before sending."""


def _files(path: Path) -> dict[str, bytes]:
    """The file, plus its signal files when it is a WFDB header (from the same folder)."""
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    data = path.read_bytes()
    files = {path.name: data}
    if detect_format(path.name, data) == WFDB_HEADER:
        for name in wfdb_signal_files(data):
            signal = path.parent / name
            if not signal.is_file():
                raise InvalidInput(f"WFDB record {path} needs signal file {name!r}, not found next to it")
            files[name] = signal.read_bytes()
    return files


@ecg.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
@fail_cleanly
def inspect(path: Path, as_json: bool) -> None:
    """Print format, leads, rate, duration and the quality verdict of one ECG file (or WFDB .hea)."""
    summary = summarize_ecg(_files(path))
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False))
        return
    quality = summary["quality"]
    click.echo(f"{summary['format']}: {len(summary['leads'])} leads ({', '.join(summary['leads'])}), "
               f"{summary['fs']:g} Hz, {summary['duration_s']:.1f} s")  # fmt: skip
    click.echo(f"quality: {quality['verdict_en']} / {quality['verdict_zh']}")
    for finding in quality["findings"]:
        click.echo(f"  [{finding['severity']}] {finding['reason_en']} / {finding['reason_zh']}")

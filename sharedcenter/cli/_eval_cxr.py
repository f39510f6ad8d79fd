"""``sharedcenter eval cxr DIR``: the chest radiograph pre-read on a labelled image folder."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from sharedcenter.cli._common import fail_cleanly

__all__ = ["cxr"]

logger = logging.getLogger(__name__)


@click.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="weights to evaluate (default: the shipped model)")
@click.option("--json", "as_json", is_flag=True, help="end with one line of JSON")
@click.option("--bootstrap", default=1000, show_default=True, help="bootstrap rounds for the 95 % CIs")
@fail_cleanly
def cxr(folder: Path, model_path: Path | None, as_json: bool, bootstrap: int) -> None:
    """Evaluate on FOLDER (images + metadata.csv or labels.csv in the shared data's format)."""
    from pipelines.cxr_evaluate import evaluate_folder

    try:
        figures = evaluate_folder(folder, model_path, bootstrap)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if not as_json:
        click.echo(f"n={figures['n']} scored={figures['n_scored']} AUROC(abnormal)={figures['auroc_abnormal']}")
        click.echo(f"sensitivity={figures['sensitivity']} specificity={figures['specificity']} "
                   f"at threshold {figures['threshold']}")
        for view, counts in figures["quality_by_view"].items():
            click.echo(f"  view {view}: {counts}")
    if as_json:
        click.echo(json.dumps(figures, ensure_ascii=False))

"""The ``sharedcenter`` command."""

from __future__ import annotations

import click

from sharedcenter import __version__
from sharedcenter.cli._admin import db, region, token, user
from sharedcenter.cli._agent import agent
from sharedcenter.cli._ca import ca, institution
from sharedcenter.cli._demo import demo
from sharedcenter.cli._ecg import ecg
from sharedcenter.cli._eval import eval_
from sharedcenter.cli._models import models_
from sharedcenter.cli._mwl import mwl
from sharedcenter.cli._orders import orders
from sharedcenter.cli._orthanc import orthanc
from sharedcenter.cli._run import serve, sync, worker
from sharedcenter.cli._upload import upload

__all__ = ["cli", "main"]


@click.group()
@click.version_option(__version__)
def cli() -> None:
    """sharedcenter: remote imaging and ECG reading for the county shared diagnostic centers."""


for command in (db, region, user, token, serve, worker, sync, upload, demo, orthanc, ca, institution, ecg,
                models_, eval_, agent, orders, mwl):
    cli.add_command(command)


def main() -> None:
    cli()

"""``sharedcenter ca``: the regional CA (init, issue a specialist's certificate) and member hospitals."""

from __future__ import annotations

import click
from sqlalchemy import select

from sharedcenter.cli._common import fail_cleanly, settings_or_exit
from sharedcenter.db import Database, User
from sharedcenter.errors import NotFound
from sharedcenter.recognition import add_institution
from sharedcenter.signing import issue_certificate, regional_ca

__all__ = ["ca", "institution"]


def _database() -> Database:
    database = Database.from_settings(settings_or_exit())
    database.upgrade()
    return database


@click.group()
def ca() -> None:
    """The regional certification authority for report signatures."""


@ca.command("init")
@click.option("--name", default=None, help="the CA's name; default SHAREDCENTER_CA_NAME")
@fail_cleanly
def ca_init(name: str | None) -> None:
    """Create the regional CA (root and time-stamping certificates) in SHAREDCENTER_CA_DIR."""
    settings = settings_or_exit()
    cert = regional_ca(settings).init(name or settings.ca_name)
    click.echo(f"regional CA created in {settings.ca_dir}: {cert.subject.rfc4514_string()}")


@ca.command("issue")
@click.argument("username")
@fail_cleanly
def ca_issue(username: str) -> None:
    """Issue USERNAME a signing key (encrypted, mode 0600) and certificate from the regional CA."""
    settings = settings_or_exit()
    with _database().session() as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            raise NotFound(f"no user {username!r}")
        row = issue_certificate(session, settings, user)
        click.echo(f"certificate {row.serial} for {row.subject}, valid until {row.not_after:%Y-%m-%d}")


@click.group()
def institution() -> None:
    """Member hospitals that look up recognized results."""


@institution.command("add")
@click.argument("code")
@click.option("--name", required=True, help="the hospital's name")
@fail_cleanly
def institution_add(code: str, name: str) -> None:
    """Register a member hospital CODE and print a new API token for it (shown once)."""
    with _database().session() as session:
        click.echo(add_institution(session, code, name))

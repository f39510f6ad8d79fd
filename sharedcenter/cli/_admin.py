"""Administration commands: database, region, users, tokens."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
from sqlalchemy import select

from sharedcenter.auth import create_user, issue_token
from sharedcenter.cli._common import fail_cleanly, settings_or_exit
from sharedcenter.db import Database, User
from sharedcenter.errors import NotFound
from sharedcenter.region import load_region, read_region

__all__ = ["db", "region", "token", "user"]


def _database() -> Database:
    database = Database.from_settings(settings_or_exit())
    database.upgrade()
    return database


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@fail_cleanly
def db_upgrade() -> None:
    """Apply the migrations up to the newest schema."""
    _database()
    click.echo("database is up to date")


@click.group()
def region() -> None:
    """The region: centers and township sites."""


@region.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@fail_cleanly
def region_load(file: Path) -> None:
    """Load (insert or update) the region described in FILE (TOML)."""
    spec = read_region(file)
    with _database().session() as session:
        summary = load_region(session, spec, actor="cli")
    click.echo(f"region {spec.code} {spec.name}: {summary.centers} centers, {summary.sites} sites"
               f" ({summary.deactivated_sites} deactivated)")


@click.group()
def user() -> None:
    """Users and their roles."""


@user.command("add")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(["technician", "radiologist", "cardiologist", "qc", "admin"]))
@click.option("--site", help="site code (technicians)")
@click.option("--center", help="center code (specialists, qc, admin)")
@click.option("--name", "display_name", default="", help="display name, e.g. 张医生")
@click.password_option(envvar="SHAREDCENTER_NEW_PASSWORD")
@fail_cleanly
def user_add(username: str, role: str, site: str | None, center: str | None, display_name: str,
             password: str) -> None:
    """Create a user bound to a site or a center."""
    with _database().session() as session:
        create_user(session, username, password, role, display_name=display_name, site_code=site,
                    center_code=center)
    click.echo(f"user {username} ({role}) created")


@click.group()
def token() -> None:
    """API tokens for scripts and modalities."""


@token.command("create")
@click.argument("username")
@click.option("--name", default="cli", help="what the token is for")
@click.option("--days", type=float, default=None, help="lifetime; default never expires")
@fail_cleanly
def token_create(username: str, name: str, days: float | None) -> None:
    """Print a new bearer token for USERNAME (shown once; only its hash is kept)."""
    with _database().session() as session:
        row = session.scalar(select(User).where(User.username == username))
        if row is None:
            raise NotFound(f"no user {username!r}")
        ttl = dt.timedelta(days=days) if days else None
        click.echo(issue_token(session, row.id, name, ttl))

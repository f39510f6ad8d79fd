"""``sharedcenter ca``: the regional CA (init, issue a specialist's certificate) and member hospitals."""

from __future__ import annotations

from pathlib import Path

import click
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from sharedcenter.cli._common import fail_cleanly, settings_or_exit
from sharedcenter.config import Settings
from sharedcenter.db import Database, User
from sharedcenter.errors import InvalidInput, NotFound
from sharedcenter.recognition import add_institution
from sharedcenter.signing import fingerprint, import_credentials, issue_certificate, regional_ca

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


@ca.command("import")
@click.argument("username")
@click.argument("pkcs12_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--password", envvar="SHAREDCENTER_PKCS12_PASSWORD", default=None,
              help="the PKCS#12 file's password ($SHAREDCENTER_PKCS12_PASSWORD; asked when not given)")
@click.option("--trust", "trust_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="the issuing CA's root certificate (PEM), to trust from now on")
@fail_cleanly
def ca_import(username: str, pkcs12_file: Path, password: str | None, trust_file: Path | None) -> None:
    """Import USERNAME's key and certificate issued by a real CA (PKCS#12); the key is re-encrypted at rest."""
    settings = settings_or_exit()
    if password is None:
        password = str(click.prompt("PKCS#12 password (empty for none)", hide_input=True, default="",
                                    show_default=False))
    if trust_file is not None:
        _trust(settings, trust_file)
    with _database().session() as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            raise NotFound(f"no user {username!r}")
        row = import_credentials(session, settings, user, pkcs12_file.read_bytes(), password.encode() or None)
        click.echo(f"certificate {row.serial} for {row.subject} imported, valid until {row.not_after:%Y-%m-%d}")


@ca.command("trust")
@click.argument("root_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@fail_cleanly
def ca_trust(root_file: Path) -> None:
    """Trust signatures that chain to the CA root certificate(s) in ROOT_FILE (PEM)."""
    click.echo(f"trusted: {', '.join(_trust(settings_or_exit(), root_file))}")


def _trust(settings: Settings, root_file: Path) -> list[str]:
    try:
        roots = x509.load_pem_x509_certificates(root_file.read_bytes())
    except ValueError as exc:
        raise InvalidInput(f"{root_file}: not a PEM certificate ({exc})") from exc
    assert settings.ca_dir is not None
    folder = settings.ca_dir / "trusted"
    folder.mkdir(parents=True, exist_ok=True)
    for root in roots:
        (folder / f"{fingerprint(root)}.pem").write_bytes(root.public_bytes(serialization.Encoding.PEM))
    return [root.subject.rfc4514_string() for root in roots]


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

"""What every command shares: settings, services, and the one place errors become exit codes."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import click

from sharedcenter.config import Settings, get_settings
from sharedcenter.errors import SharedCenterError

__all__ = ["fail_cleanly", "settings_or_exit"]

F = TypeVar("F", bound=Callable[..., Any])


def fail_cleanly(func: F) -> F:
    """Print a domain error as one line on stderr and exit 2 (1 for anything unexpected)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SharedCenterError as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(2) from exc

    return wrapper  # type: ignore[return-value]


def settings_or_exit() -> Settings:
    try:
        return get_settings()
    except SharedCenterError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from exc


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

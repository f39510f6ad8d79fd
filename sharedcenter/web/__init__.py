"""Reading-station pages (server-rendered; issue 6 grows them into the full station)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from sharedcenter import __version__

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_env = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=select_autoescape(["html"]),
)


@router.get("/", response_class=HTMLResponse)
def station() -> str:
    """The station's start page: log in, then the worklist (specialists) or the site's reports."""
    return _env.get_template("station.html").render(version=__version__)

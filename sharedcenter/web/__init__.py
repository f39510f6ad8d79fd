"""Reading-station and clinic pages: server-rendered Jinja pages with small ES modules, no build step.

Pages read the session cookie (``sc_token``, set by ``POST /api/auth/login``); without a valid one
they send the browser to the login page.  The language is Simplified Chinese unless the
``sc_lang`` cookie says ``en`` (``/lang/en``).  The worklist is kept live by short polling with
ETag (see ``sharedcenter/web/static/worklist.js`` for why not Server-Sent Events).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from sharedcenter import __version__
from sharedcenter.api.deps import COOKIE, ServicesDep
from sharedcenter.auth import Principal, authenticate_token
from sharedcenter.consultations import study_for_station
from sharedcenter.enums import Role
from sharedcenter.errors import AuthenticationFailed, NotFound
from sharedcenter.web.i18n import LANGUAGES, messages, translator

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_HERE = Path(__file__).resolve().parent
_env = Environment(loader=FileSystemLoader(_HERE / "templates"), autoescape=select_autoescape(["html"]))
_STATIC = re.compile(r"^[a-z0-9_-]+\.(js|css)$")
_TYPES = {"js": "text/javascript", "css": "text/css"}
LANG_COOKIE = "sc_lang"


def _lang(request: Request) -> str:
    lang = request.cookies.get(LANG_COOKIE, "zh")
    return lang if lang in LANGUAGES else "zh"


def _principal(request: Request, services: ServicesDep) -> Principal | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    try:
        with services.db.session() as session:
            return authenticate_token(session, token)
    except AuthenticationFailed:
        return None


def _home(principal: Principal) -> str:
    if principal.role is Role.TECHNICIAN:
        return "/clinic"
    return "/worklist"


def _render(request: Request, name: str, principal: Principal | None, **context: Any) -> HTMLResponse:
    lang = _lang(request)
    me = None if principal is None else {"username": principal.username, "display_name": principal.display_name,
                                         "role": principal.role.value, "site": principal.site_code,
                                         "center": principal.center_code}
    html = _env.get_template(name).render(
        t=translator(lang), lang=lang, version=__version__, me=me, path=request.url.path,
        i18n_json=json.dumps(messages(lang), ensure_ascii=False), me_json=json.dumps(me, ensure_ascii=False),
        **context)
    return HTMLResponse(html)


def _login_redirect(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)


@router.get("/", response_class=HTMLResponse)
def station(request: Request, services: ServicesDep) -> Response:
    """The start page: the login form, or the caller's home (worklist or clinic)."""
    principal = _principal(request, services)
    if principal is not None:
        return RedirectResponse(_home(principal), status_code=303)
    return _render(request, "login.html", None, next="")


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "") -> Response:
    """The login form; ``next`` is where to go afterwards (a local path only)."""
    safe = next if next.startswith("/") and not next.startswith("//") else ""
    return _render(request, "login.html", None, next=safe)


@router.get("/logout")
def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/lang/{lang}")
def switch_language(lang: str, request: Request) -> Response:
    """Switch the interface language and go back to the page the switch was pressed on."""
    back = request.headers.get("referer") or "/"
    response = RedirectResponse(back if lang in LANGUAGES else "/", status_code=303)
    if lang in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax")
    return response


@router.get("/worklist", response_class=HTMLResponse)
def worklist_page(request: Request, services: ServicesDep) -> Response:
    principal = _principal(request, services)
    if principal is None:
        return _login_redirect(request)
    if principal.role is Role.TECHNICIAN:
        return RedirectResponse("/clinic", status_code=303)
    return _render(request, "worklist.html", principal)


@router.get("/read/{study_id}", response_class=HTMLResponse)
def read_page(study_id: int, request: Request, services: ServicesDep) -> Response:
    """The reading page: the image or ECG viewer with the AI beside it, and the report editor."""
    principal = _principal(request, services)
    if principal is None:
        return _login_redirect(request)
    try:
        with services.db.session() as session:
            study = study_for_station(session, principal, study_id)
            kind, reader = study.kind, principal.reads_kind() is not None
    except NotFound:
        return _render(request, "notfound.html", principal, study_id=study_id)
    return _render(request, "read.html", principal, study_id=study_id, kind=kind, reader=reader)


@router.get("/consultations", response_class=HTMLResponse)
def consultations_page(request: Request, services: ServicesDep) -> Response:
    principal = _principal(request, services)
    if principal is None:
        return _login_redirect(request)
    return _render(request, "consultations.html", principal)


@router.get("/clinic", response_class=HTMLResponse)
def clinic_page(request: Request, services: ServicesDep) -> Response:
    principal = _principal(request, services)
    if principal is None:
        return _login_redirect(request)
    return _render(request, "clinic.html", principal)


@router.get("/static/{name}")
def static(name: str) -> Response:
    """The pages' scripts and style sheet (a fixed folder; names are checked, no paths)."""
    if not _STATIC.match(name) or not (_HERE / "static" / name).is_file():
        raise NotFound(f"no static file {name!r}")
    return FileResponse(_HERE / "static" / name, media_type=_TYPES[name.rsplit(".", 1)[1]],
                        headers={"Cache-Control": "no-cache"})

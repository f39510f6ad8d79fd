"""Log in with a password and get a bearer token; who am I."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Response

from sharedcenter.api.deps import COOKIE, CurrentUser, ServicesDep
from sharedcenter.api.schemas import LoginIn
from sharedcenter.auth import login as login_with_password

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["auth"])


@router.post("/auth/login")
def login(body: LoginIn, response: Response, services: ServicesDep) -> dict[str, Any]:
    ttl = dt.timedelta(hours=services.settings.token_ttl_hours)
    principal, token = login_with_password(services.db, body.username, body.password, ttl)
    response.set_cookie(COOKIE, token, max_age=int(ttl.total_seconds()), httponly=True, samesite="strict")
    return {"token": token, "token_type": "bearer", "expires_in": int(ttl.total_seconds()),
            "user": _me(principal)}


@router.get("/me")
def me(principal: CurrentUser) -> dict[str, Any]:
    return _me(principal)


def _me(p: Any) -> dict[str, Any]:
    return {"username": p.username, "display_name": p.display_name, "role": p.role.value,
            "site": p.site_code, "center": p.center_code}

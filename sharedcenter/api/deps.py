"""Request dependencies: the wired services and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from sharedcenter.auth import Principal, authenticate_token
from sharedcenter.errors import AuthenticationFailed
from sharedcenter.services import Services

__all__ = ["COOKIE", "CurrentUser", "ServicesDep", "current_principal", "get_services"]

COOKIE = "sc_token"


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def _token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    cookie = request.cookies.get(COOKIE)
    if cookie:
        return cookie
    raise AuthenticationFailed("log in first: send 'Authorization: Bearer <token>'")


def current_principal(request: Request, services: ServicesDep) -> Principal:
    token = _token(request)
    with services.db.session() as session:
        return authenticate_token(session, token)


CurrentUser = Annotated[Principal, Depends(current_principal)]

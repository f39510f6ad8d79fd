"""Users, passwords, tokens and the caller's scope."""

from sharedcenter.auth.service import (
    Principal,
    authenticate_password,
    authenticate_token,
    create_user,
    issue_token,
    login,
    set_password,
)

__all__ = [
    "Principal",
    "authenticate_password",
    "authenticate_token",
    "create_user",
    "issue_token",
    "login",
    "set_password",
]

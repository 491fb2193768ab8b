"""Exceptions the console turns into pages: sign-in needed, role refused, CSRF."""

from __future__ import annotations


class SessionStoreDown(Exception):
    """The store of signed-in sessions cannot be reached: nobody can sign in
    or out now (503); pages anyone may read still work."""


class LoginRequired(Exception):
    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


class RoleRefused(Exception):
    def __init__(self, roles: tuple[str, ...]) -> None:
        self.roles = roles


class CsrfRejected(Exception):
    pass

"""Dependencies of the pages: the API clients and the signed-in user."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request

from console.api import Services
from console.auth.users import User, from_session
from console.errors import LoginRequired, RoleRefused
from console.pollutants import PollutantList


async def services(request: Request) -> Services:
    """Dependency: the clients of the services (async: a plain function
    dependency runs in a worker thread)."""
    svc: Services = request.app.state.services
    return svc


async def pollutant_list(request: Request) -> PollutantList:
    """Dependency: quota-svc's pollutant list, as this process keeps it."""
    pollutants: PollutantList = request.app.state.pollutants
    return pollutants


def optional_user(request: Request) -> User | None:
    return from_session(request)


def signed_in(*roles: str) -> Callable[[Request], Coroutine[Any, Any, User]]:
    """The signed-in user, who must have one of `roles` (any role when none)."""

    async def dep(request: Request) -> User:
        user = from_session(request)
        if user is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise LoginRequired(target)
        if roles and user.role not in roles:
            raise RoleRefused(roles)
        return user

    return dep

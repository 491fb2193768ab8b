"""FastAPI dependencies giving routes the running service's parts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import Request

from svc_common.db import Database

if TYPE_CHECKING:
    from svc_common.service import Runtime


def get_runtime(request: Request) -> Runtime:
    """The running service's parts; a plain accessor, callable anywhere."""
    rt: Runtime = request.app.state.runtime
    return rt


async def runtime(request: Request) -> Runtime:
    """`get_runtime` as a dependency. Async on purpose: FastAPI runs a plain
    function dependency in a worker thread, a thread hop on every request."""
    return get_runtime(request)


async def get_db(request: Request) -> Database:
    """The service's database, as a dependency (async for the same reason)."""
    return get_runtime(request).db

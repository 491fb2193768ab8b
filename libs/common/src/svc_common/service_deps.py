"""FastAPI dependencies giving routes the running service's parts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import Request

from svc_common.db import Database

if TYPE_CHECKING:
    from svc_common.service import Runtime


def get_runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def get_db(request: Request) -> Database:
    return get_runtime(request).db

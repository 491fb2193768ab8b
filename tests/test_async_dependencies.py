"""No route of any app has a plain-function dependency: FastAPI runs one in
a worker thread, a thread hop (and a wake of the thread pool) on every
request. Measured on quota-svc's availability read: 0.2 ms of its 3 ms (the
rest in bench/RESULTS.md). Use `svc_common.service_deps.runtime`,
not `get_runtime`, as a dependency."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant

APPS = ["quota_svc.app", "eia_svc.app", "permit_svc.app", "supervision_svc.app", "console.app"]


def _is_async(call: Callable[..., Any]) -> bool:
    return any(
        inspect.iscoroutinefunction(c) or inspect.isasyncgenfunction(c)
        for c in (call, getattr(call, "__call__", None))  # noqa: B004 - a callable instance
    )


def _plain(dependant: Dependant) -> Iterator[str]:
    for sub in dependant.dependencies:
        if sub.call is not None and not _is_async(sub.call):
            yield getattr(sub.call, "__qualname__", repr(sub.call))
        yield from _plain(sub)


def sync_dependencies(app: FastAPI) -> set[tuple[str, str]]:
    """(route path, dependency) for every plain-function dependency."""
    found = set()
    for ctx in routing.iter_route_contexts(list(app.routes)):
        dependant = getattr(ctx, "dependant", None)
        if isinstance(dependant, Dependant):
            found |= {(str(ctx.path), name) for name in _plain(dependant)}
    return found


@pytest.mark.parametrize("module", APPS)
def test_every_dependency_is_async(module: str, tmp_path: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/db.sqlite")
    app = importlib.import_module(module).create()
    assert sync_dependencies(app) == set()


def test_the_check_sees_a_plain_dependency() -> None:
    from fastapi import Depends

    def plain() -> int:
        return 1

    async def awaited() -> int:
        return 1

    app = FastAPI()

    @app.get("/x")
    async def x(a: int = Depends(plain), b: int = Depends(awaited)) -> int:
        return a + b

    assert sync_dependencies(app) == {
        ("/x", "test_the_check_sees_a_plain_dependency.<locals>.plain")
    }

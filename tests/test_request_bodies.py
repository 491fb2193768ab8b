"""Every JSON request body of every app refuses a field it does not know.

A model that ignores unknown fields turns a client's misspelling into a
silent default: `{"polutant": "NOx"}` reserved VOCs, a baseline's
`efective_at` was credited now. So every model a route reads as its JSON
body, and every model nested in it, is `extra="forbid"` (the answer is a 422
naming the field: "不接受此字段"); a route reads one body model, not several
embedded ones (FastAPI's combined body would ignore unknown names); and no
body is a plain mapping (any name goes). Response models are not concerned.
"""

from __future__ import annotations

import importlib
import typing
from typing import Any

import pytest
from fastapi import Body, FastAPI, params
from pydantic import BaseModel, ConfigDict
from svc_common.openapi import api_routes, models_in

from tests.test_async_dependencies import APPS


def _mappings(annotation: Any) -> bool:
    """Whether a body annotation is, or holds outside any model, a mapping."""
    if typing.get_origin(annotation) in (dict, typing.Mapping) or annotation is dict:
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return False
    return any(_mappings(arg) for arg in typing.get_args(annotation))


def lenient_bodies(app: FastAPI) -> set[tuple[str, str]]:
    """(route, what is wrong) for every JSON body that can take an unknown field."""
    found: set[tuple[str, str]] = set()
    for ctx in api_routes(app.routes):
        route = f"{','.join(sorted(ctx.methods or ()))} {ctx.path_format}"
        bodies = [
            p
            for p in ctx.original_route.dependant.body_params
            if not isinstance(p.field_info, params.Form | params.File)
        ]
        if len(bodies) > 1 or any(p.field_info.embed for p in bodies):
            found.add((route, "several body parameters (embedded): unknown names are ignored"))
        seen: set[Any] = set()
        for param in bodies:
            annotation = param.field_info.annotation
            if _mappings(annotation):
                found.add((route, f"{param.name} takes a mapping: any name goes"))
            for model in models_in(annotation, seen):
                if model.model_config.get("extra") != "forbid":
                    found.add((route, f"{model.__module__}.{model.__qualname__}"))
    return found


@pytest.mark.parametrize("module", APPS)
def test_every_json_body_refuses_unknown_fields(
    module: str, tmp_path: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/db.sqlite")
    app = importlib.import_module(module).create()
    assert sorted(lenient_bodies(app)) == []


def test_every_service_has_json_bodies_to_check(tmp_path: Any, monkeypatch: Any) -> None:
    """The walk sees the bodies (an empty walk would pass anything)."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/db.sqlite")
    for module in APPS[:4]:
        app = importlib.import_module(module).create()
        bodies = [
            p for ctx in api_routes(app.routes) for p in ctx.original_route.dependant.body_params
        ]
        assert len(bodies) >= 4, module


class _Inner(BaseModel):
    amount_t: str


class _Outer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[_Inner]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str


def test_the_check_sees_a_lenient_model_at_any_depth() -> None:
    app = FastAPI()

    @app.post("/nested")
    async def nested(body: _Outer) -> None: ...

    @app.post("/optional")
    async def optional(body: _Inner | None = None) -> None: ...

    @app.post("/strict")
    async def strict(body: _Strict) -> None: ...

    @app.post("/embedded")
    async def embedded(a: _Strict, b: int = Body()) -> None: ...

    @app.post("/mapping")
    async def mapping(body: dict[str, int]) -> None: ...

    found = lenient_bodies(app)
    inner = f"{_Inner.__module__}.{_Inner.__qualname__}"
    assert ("POST /nested", inner) in found
    assert ("POST /optional", inner) in found
    assert not any(route == "POST /strict" for route, _ in found)
    assert any(route == "POST /embedded" and "several" in why for route, why in found)
    assert any(route == "POST /mapping" and "mapping" in why for route, why in found)

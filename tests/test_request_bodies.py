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
import re
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


async def test_a_write_that_takes_no_body_refuses_one_that_says_anything(
    tmp_path: Any, monkeypatch: Any
) -> None:
    """`POST /permit/permits/{id}/renew` (and every write whose document has
    no body) answered `{"zzz": 1}` as if nothing had been sent. A body that
    says anything is now a 422 naming each field (or the body), in the
    caller's language, once the caller's token is checked (a caller with
    none is told 401 first, as for a body model); nothing, `{}` or `null`
    goes on to the route."""
    from svc_common import testing
    from svc_common.districts import DISTRICTS
    from svc_common.strict_bodies import takes_no_body

    json_type = {"content-type": "application/json"}
    # The callers each route allows: an admin, or an officer of every district.
    callers = [
        {**testing.auth("admin"), **json_type},
        {**testing.auth("officer", list(DISTRICTS)), **json_type},
    ]
    checked = []
    for i, module in enumerate(APPS[:4]):
        monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/db{i}.sqlite")
        app = importlib.import_module(module).create()
        async with testing.running(app) as c:
            for ctx in api_routes(app.routes):
                if not takes_no_body(ctx.original_route):
                    continue
                (method,) = ctx.original_route.methods
                url = re.sub(r"\{[^}]+\}", "x1", ctx.path_format)
                checked.append(url)
                r = await c.request(method, url, json={"zzz": 1}, headers=json_type)
                assert r.status_code == 401, (url, r.text)  # the token first
                for admin in callers:  # one the route lets in
                    r = await c.request(method, url, content=b"{}", headers=admin)
                    if r.status_code not in (401, 403):
                        break
                for body in (b"", b"{}", b" null ", b"{ }"):
                    r = await c.request(method, url, content=body, headers=admin)
                    # On to the route (a path parameter such as `x1` for a
                    # district may still be refused, never the body).
                    refused = r.json().get("errors", []) if r.status_code == 422 else []
                    assert all(e["field"] != "body" for e in refused), (url, body, r.text)
                zh = {**admin, "accept-language": "zh-CN"}
                r = await c.request(method, url, json={"zzz": 1, "note": None}, headers=zh)
                assert r.status_code == 422, (url, r.text)
                assert [e["field"] for e in r.json()["errors"]] == ["zzz", "note"], r.json()
                assert r.json()["detail"] == "zzz: 不接受此字段; note: 不接受此字段", r.json()
                for body in (b"[1]", b'"renew"', b"0"):
                    r = await c.request(method, url, content=body, headers=admin)
                    assert r.status_code == 422, (url, body, r.text)
                    assert r.json()["errors"][0]["field"] == "body", r.json()
                    assert "takes no body" in r.json()["detail"], r.json()
                text = {k: v for k, v in admin.items() if k != "content-type"}
                r = await c.request(method, url, content=b"renew", headers=text)
                assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body", r.text
    assert "/permit/permits/x1/renew" in checked and len(checked) >= 10, checked

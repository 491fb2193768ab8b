"""`svc_common.routes.allowed_methods` files the routes by the head of their
path so a write request tries a few patterns, not every route. It must give
what a scan of every route gives, for every app's own paths (their
parameters filled in), for near misses and for paths no route has."""

from __future__ import annotations

import importlib
import re
from typing import Any

import pytest
from fastapi import routing
from starlette.routing import compile_path
from svc_common.routes import allowed_methods

from tests.test_async_dependencies import APPS

_PARAM = re.compile(r"\{[^}]+\}")


def _scan(app: Any, path: str) -> frozenset[str] | None:
    found: set[str] = set()
    matched = False
    for ctx in routing.iter_route_contexts(list(app.routes)):
        pattern = getattr(ctx, "path", None) or getattr(ctx, "path_format", None)
        methods = getattr(ctx, "methods", None)
        if pattern and methods and compile_path(pattern)[0].match(path):
            matched = True
            found |= methods
    if not matched:
        return None
    return frozenset(found | ({"HEAD"} if "GET" in found else set()))


def _probes(app: Any) -> set[str]:
    paths: set[str] = {"/", "/nowhere", "/a/b/c/d/e", "//", ""}
    for ctx in routing.iter_route_contexts(list(app.routes)):
        pattern = getattr(ctx, "path", None) or getattr(ctx, "path_format", None)
        if not pattern:
            continue
        filled = _PARAM.sub("x1", pattern)
        paths |= {filled, filled + "/", filled + "/extra", filled.rsplit("/", 1)[0]}
        paths |= {filled + "\n", filled + "\n\n", filled + "/\n"}  # `$` matches before a newline
        paths.add(_PARAM.sub("a/b", pattern))  # a value with a slash in it
        paths.add(filled.replace("/", "/zz", 1))  # another first segment
    return paths


@pytest.mark.parametrize("module", APPS)
def test_the_index_answers_as_a_scan_of_every_route(
    module: str, tmp_path: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/db.sqlite")
    app = importlib.import_module(module).create()
    probes = _probes(app)
    assert len(probes) > 50
    differ = {p: (allowed_methods(app, p), _scan(app, p)) for p in probes}
    assert {p: v for p, v in differ.items() if v[0] != v[1]} == {}
    assert sum(1 for a, _ in differ.values() if a) > 20  # most probes reach a route


def test_parameters_in_the_head_and_paths_that_span_segments() -> None:
    """No service route has a parameter in its first two segments or a
    `:path` parameter today; the index must still find them."""
    from fastapi import FastAPI

    app = FastAPI()
    for path, method in [
        ("/{tenant}/items", "GET"),
        ("/x/{y}", "POST"),
        ("/x/{y}", "DELETE"),
        ("/x/literal", "PUT"),
        ("/files/{rest:path}", "GET"),
        ("/", "GET"),
    ]:
        app.add_api_route(path, lambda: None, methods=[method])
    probes = ["/t1/items", "/x/items", "/x/1", "/x/literal", "/files/a/b/c", "/files/", "/", "/q"]
    assert {p: allowed_methods(app, p) for p in probes} == {p: _scan(app, p) for p in probes}
    assert allowed_methods(app, "/x/items") == {"GET", "HEAD", "POST", "DELETE"}
    assert allowed_methods(app, "/files/a/b/c") == {"GET", "HEAD"}


@pytest.mark.parametrize("module", ["quota_svc.app", "eia_svc.app"])
def test_no_request_could_reach_two_routes_of_one_method(
    module: str, tmp_path: Any, monkeypatch: Any
) -> None:
    """quota-svc and eia-svc list their busiest routers first (FastAPI tries
    routes in order): that is safe only while no request matches two routes
    of the same method, so the order decides nothing but the time it takes.
    (supervision-svc's `complaints/clusters` before `complaints/{id}` is an
    order within one router, which no reordering of routers changes.)"""
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/db.sqlite")
    app = importlib.import_module(module).create()
    routes = [
        (pattern, frozenset(methods))
        for ctx in routing.iter_route_contexts(list(app.routes))
        if (pattern := getattr(ctx, "path", None) or getattr(ctx, "path_format", None))
        and (methods := getattr(ctx, "methods", None))
    ]
    both = [
        (a, b, sorted(ma & mb))
        for i, (a, ma) in enumerate(routes)
        for b, mb in routes[i + 1 :]
        if ma & mb
        and (
            compile_path(a)[0].match(_PARAM.sub("x1", b))
            or compile_path(b)[0].match(_PARAM.sub("x1", a))
        )
    ]
    assert both == []


@pytest.mark.parametrize("module", [m for m in APPS if m != "console.app"])
def test_every_query_parameter_a_document_lists_is_read_by_its_operation(
    module: str, tmp_path: Any, monkeypatch: Any
) -> None:
    """The guard refuses a query parameter no route of the request reads
    (`QueryArity.read_by`); one an operation's document lists must never be
    among them, whether the route declares it or reads it itself and
    documents it (an upload's `report`, in `openapi_extra`)."""
    from svc_common.openapi import single_query_params

    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/db.sqlite")
    app = importlib.import_module(module).create()
    arity = single_query_params(app)
    unread: dict[str, set[str]] = {}
    listed = 0
    for path, operations in app.openapi()["paths"].items():
        for method, op in operations.items():
            names = {p["name"] for p in op.get("parameters", ()) if p.get("in") == "query"}
            listed += len(names)
            read = arity.read_by(method.upper(), _PARAM.sub("x1", path))
            if names - (read or set()):
                unread[f"{method.upper()} {path}"] = names - (read or set())
    assert unread == {}
    assert listed > 20

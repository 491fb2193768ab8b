"""Which methods an app answers on a path, over all its routes at once.

The router stops at the first route whose path matches, so its 405 names
only that route's methods; a path served by several routes (GET and POST on
`/enterprises` come from two functions) needs the union. The idempotency
middleware also asks here whether a write reaches a route at all, so a
request for a path or method that does not exist is answered 404/405 without
touching a key, and whether the route that serves a write keeps its answer
with its effect (`keeps_answer`), so the key need not be looked up first.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Generic, NamedTuple, TypeVar

from fastapi import APIRouter, FastAPI, routing
from starlette.routing import compile_path

_CACHE_ATTR = "_methods_by_path"
#: The attribute that marks an endpoint as keeping its Idempotency-Key
#: answer with its effect (`keeps_answer_with_effect`).
KEEPS_ANSWER = "__keeps_answer_with_effect__"
_F = TypeVar("_F", bound=Callable[..., Any])

#: A route path's literal head: its segment count and first two segments
#: ("*" where a segment is a parameter). A request can only match routes
#: filed under its own head or under the wildcard forms of it.
_Head = tuple[int, str, str]
_Pattern = tuple[re.Pattern[str], frozenset[str]]
_T = TypeVar("_T")


class _Filed(Generic[_T]):
    """Values filed by their route path's head, so a lookup tries the few
    routes that can match instead of all of them (about 150 in quota-svc),
    on every write request. Paths with a `:path` parameter, which spans
    segments, are tried always."""

    def __init__(self) -> None:
        self.by_head: dict[_Head, list[_T]] = {}
        self.always: list[_T] = []

    def add(self, path: str, value: _T) -> None:
        if ":path}" in path:
            self.always.append(value)
            return
        parts = path.split("/")[1:]
        key = (len(parts), *(_literal(p) for p in ([*parts, "", ""])[:2]))
        self.by_head.setdefault(key, []).append(value)  # type: ignore[arg-type]

    def candidates(self, path: str) -> list[_T]:
        # A route's `^…$` also matches before one trailing newline (so does
        # the router's): file the request by its path without it.
        head = path[:-1] if path.endswith("\n") else path
        parts = ([*head.split("/", 3), "", ""])[1:3]
        n = head.count("/")
        found = list(self.always)
        for first in (parts[0], "*"):
            for second in (parts[1], "*"):
                found += self.by_head.get((n, first, second), ())
        return found


class _Route(NamedTuple):
    """A route in the router's order: its pattern, its methods, and whether
    its endpoint keeps its Idempotency-Key answer with its effect."""

    order: int
    regex: re.Pattern[str]
    methods: frozenset[str]
    keeps_answer: bool


class _Index:
    """The app's route patterns (every path's methods merged) and its routes
    one by one, each filed by head (`_Filed`)."""

    def __init__(self, merged: dict[str, set[str]], routes: list[tuple[str, _Route]]) -> None:
        self.patterns: _Filed[_Pattern] = _Filed()
        for path, methods in merged.items():
            self.patterns.add(path, (compile_path(path)[0], frozenset(methods)))
        self.routes: _Filed[_Route] = _Filed()
        for path, route in routes:
            self.routes.add(path, route)

    def candidates(self, path: str) -> list[_Pattern]:
        return self.patterns.candidates(path)


def _literal(segment: str) -> str:
    return "*" if "{" in segment else segment


def _index(app: Any) -> _Index:
    index: _Index | None = getattr(app.state, _CACHE_ATTR, None)
    if index is None:
        merged: dict[str, set[str]] = {}
        routes: list[tuple[str, _Route]] = []
        for ctx in routing.iter_route_contexts(list(app.routes)):
            path = getattr(ctx, "path", None) or getattr(ctx, "path_format", None)
            methods = getattr(ctx, "methods", None)
            if path and methods:
                merged.setdefault(path, set()).update(methods)
                keeps = bool(getattr(getattr(ctx, "endpoint", None), KEEPS_ANSWER, False))
                route = _Route(len(routes), compile_path(path)[0], frozenset(methods), keeps)
                routes.append((path, route))
        index = _Index(merged, routes)
        setattr(app.state, _CACHE_ATTR, index)
    return index


def allowed_methods(app: Any, path: str) -> frozenset[str] | None:
    """Every method some route of `app` answers on `path`; None if no route has the path."""
    found: set[str] = set()
    matched = False
    for regex, methods in _index(app).candidates(path):
        if regex.match(path):
            matched = True
            found |= methods
    if not matched:
        return None
    if "GET" in found:
        found.add("HEAD")
    return frozenset(found)


def allow_header(methods: frozenset[str]) -> str:
    return ", ".join(sorted(methods))


def add_routes(app: FastAPI, router: APIRouter) -> None:
    """Serve `router`'s routes from the app's own route list, as if each
    were declared on the app (`app.include_router` without its options).

    Why not `include_router`: FastAPI keeps an included router as one entry
    that, on every request, walks all the app's routers to see whether any
    changed, then matches the request's path twice, once to pick the router
    and once to pick its route: about 3 % of a quota write's CPU (see
    bench/RESULTS.md). A router's routes carry their full paths, tags and
    responses already, so nothing an inclusion adds is lost; a router with
    what only an inclusion applies is refused here rather than half served."""
    if router.dependencies or router.on_startup or router.on_shutdown or router.callbacks:
        raise ValueError("a router with dependencies, events or callbacks needs include_router")
    if any(isinstance(r, routing._IncludedRouter) for r in router.routes):
        raise ValueError("a router that includes routers needs include_router")
    app.router.routes.extend(router.routes)


def keeps_answer_with_effect(endpoint: _F) -> _F:
    """Mark a route's endpoint as keeping its Idempotency-Key answer with
    every effect it commits (svc_common.idempotency, `Writes.answer`): the
    idempotency middleware then does not look the key up before running
    it. Only for a route whose every write commits with its answer: a
    request it refuses writes nothing, and one it finds already done
    writes nothing (both are answered after, where a stored answer is
    found)."""
    setattr(endpoint, KEEPS_ANSWER, True)
    return endpoint


def keeps_answer(app: Any, method: str, path: str) -> bool:
    """Whether the route that serves `method` on `path` (the first that
    matches both, as the router picks) keeps its answer with its effect."""
    served = [
        r
        for r in _index(app).routes.candidates(path)
        if method in r.methods and r.regex.match(path)
    ]
    return bool(served) and min(served, key=lambda r: r.order).keeps_answer

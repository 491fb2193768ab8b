"""Which methods an app answers on a path, over all its routes at once.

The router stops at the first route whose path matches, so its 405 names
only that route's methods; a path served by several routes (GET and POST on
`/enterprises` come from two functions) needs the union. The idempotency
middleware also asks here whether a write reaches a route at all, so a
request for a path or method that does not exist is answered 404/405 without
touching a key.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import routing
from starlette.routing import compile_path

_CACHE_ATTR = "_methods_by_path"


def _table(app: Any) -> list[tuple[re.Pattern[str], frozenset[str]]]:
    table: list[tuple[re.Pattern[str], frozenset[str]]] | None = getattr(
        app.state, _CACHE_ATTR, None
    )
    if table is None:
        merged: dict[str, set[str]] = {}
        for ctx in routing.iter_route_contexts(list(app.routes)):
            path = getattr(ctx, "path_format", None) or getattr(ctx, "path", None)
            methods = getattr(ctx, "methods", None)
            if path and methods:
                merged.setdefault(path, set()).update(methods)
        table = [(compile_path(p)[0], frozenset(m)) for p, m in merged.items()]
        setattr(app.state, _CACHE_ATTR, table)
    return table


def allowed_methods(app: Any, path: str) -> frozenset[str] | None:
    """Every method some route of `app` answers on `path`; None if no route has the path."""
    found: set[str] = set()
    matched = False
    for regex, methods in _table(app):
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

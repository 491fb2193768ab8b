"""Routes answered without FastAPI's per-request machinery (直达路由).

FastAPI answers every request through the same general path: three exit
stacks, its endpoint context, a content-type parse by `email.message`, and
`solve_dependencies`, which walks the route's tree of dependencies with a
cache key for each, classifying each callable again. For the plain routes
most requests take, a third of a write request's service CPU went to the
request stack, and most of FastAPI's share of it to that walk.

A route is **direct** when what it takes is plain: path parameters, at most
one JSON body model (not embedded, not a form), and dependencies that are
async functions of the request alone (the token's `require(...)`, the
service's `runtime`, strict_bodies' `_says_nothing`), and its endpoint is
async and returns a Response itself (no response model to serialise).
`install(app)` gives each such route an ASGI app that reads and validates
what FastAPI would, with FastAPI's own functions (`request_params_to_args`,
`request_body_to_args`, strict_bodies' validation), calls the dependencies in
their order and the endpoint, and sends its answer.

Only the plain, valid request takes that way. Anything else is handed to
the route's FastAPI app with its body given back as it came: a body that is
not JSON or does not validate, a content type that is not JSON, a path
parameter refused, dependency overrides set (tests). Those requests get
FastAPI's answer, byte for byte (tests/test_direct_routes.py compares both
ways over good and bad requests). An error raised by a dependency or the
endpoint (401, 403, 409) goes to the app's exception handlers as from
FastAPI's path.
"""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, params
from fastapi._compat import Undefined
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_body_to_args, request_params_to_args
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from svc_common.guard import replayed

#: The attribute on a route's ASGI app that marks it direct (for tests).
DIRECT = "__direct_route__"

#: Content types FastAPI reads as JSON, as sent by nearly every client; any
#: other (with parameters, another +json) takes FastAPI's own parse.
_JSON_TYPES = frozenset({"application/json", "application/json; charset=utf-8"})

#: A dependency: the endpoint's parameter it fills (None: only run, as
#: strict_bodies' check of a body-less write), what to call, and the name of
#: its parameter that takes the request (None: it takes none).
_Dependency = tuple[str | None, Callable[..., Awaitable[Any]], str | None]


def _plain_dependency(d: Dependant) -> bool:
    """An async function of the request alone (or of nothing)."""
    return (
        d.call is not None
        and inspect.iscoroutinefunction(d.call)
        and not (d.path_params or d.query_params or d.header_params or d.cookie_params)
        and not (d.body_params or d.dependencies)
        and d.websocket_param_name is None
        and d.http_connection_param_name is None
        and d.response_param_name is None
        and d.background_tasks_param_name is None
        and d.security_scopes_param_name is None
        and d.scope in (None, "function")
    )


def _answers_itself(endpoint: Callable[..., Any]) -> bool:
    """The endpoint is async and says it returns a Response."""
    if not inspect.iscoroutinefunction(endpoint):
        return False
    try:
        returned = typing.get_type_hints(endpoint).get("return")
    except Exception:  # an annotation that cannot be resolved: not direct
        return False
    return isinstance(returned, type) and issubclass(returned, Response)


def _plan(route: APIRoute) -> list[_Dependency] | None:
    """The route's dependencies in FastAPI's order (name, call, takes the
    request), or None: the route is not plain (see the module's docstring)."""
    d = route.dependant
    if not _answers_itself(route.endpoint) or route._embed_body_fields:
        return None
    if d.header_params or d.cookie_params or len(d.body_params) > 1:
        return None
    if any(isinstance(f.field_info, params.Form) for f in d.body_params):
        return None
    if (
        d.request_param_name is not None
        or d.websocket_param_name
        or d.http_connection_param_name
        or d.response_param_name
        or d.background_tasks_param_name
        or d.security_scopes_param_name
    ):
        return None
    plan: list[_Dependency] = []
    for sub in d.dependencies:
        if not _plain_dependency(sub):
            return None
        assert sub.call is not None
        plan.append((sub.name, sub.call, sub.request_param_name))
    # FastAPI calls a dependency used twice once (its cache); so do we, by
    # refusing the rare route that would need it.
    if len({id(call) for _n, call, _r in plan}) != len(plan):
        return None
    return plan


def _direct(route: APIRoute, plan: list[_Dependency]) -> ASGIApp:
    fallback = route.app
    endpoint = route.endpoint
    dependant = route.dependant
    path_fields = dependant.path_params
    query_fields = dependant.query_params
    body_fields = dependant.body_params

    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        # The app serving the request (a route may serve several: tests make
        # many apps of one service's routers).
        if getattr(scope.get("app"), "dependency_overrides", None):
            await fallback(scope, receive, send)
            return
        request = Request(scope, receive, send)
        values: dict[str, Any] = {}
        body: bytes = b""
        if path_fields:
            found, errors = request_params_to_args(path_fields, scope["path_params"])
            if errors:
                await fallback(scope, receive, send)
                return
            values.update(found)
        if query_fields:
            found, errors = request_params_to_args(query_fields, request.query_params)
            if errors:
                await fallback(scope, receive, send)
                return
            values.update(found)
        if body_fields:
            body = await request.body()
            received: Any = Undefined
            if body:
                if request.headers.get("content-type") not in _JSON_TYPES:
                    await fallback(scope, replayed(body, receive), send)
                    return
                try:
                    received = json.loads(body)  # as Starlette's Request.json()
                except ValueError:
                    await fallback(scope, replayed(body, receive), send)
                    return
            found, body_errors = await request_body_to_args(body_fields, received, False)
            if body_errors:
                await fallback(scope, replayed(body, receive), send)
                return
            values.update(found)
        for name, call, request_name in plan:
            value = await (call(**{request_name: request}) if request_name else call())
            if name is not None:
                values[name] = value
        response = await endpoint(**values)
        if not isinstance(response, Response):
            # Its annotation promised a Response: FastAPI would have
            # serialised this by the route's response model instead.
            raise TypeError(
                f"{route.path}: its endpoint says it returns a Response but returned "
                f"{type(response).__name__}; return a Response, or annotate what it returns"
            )
        await response(scope, receive, send)

    setattr(answer, DIRECT, True)
    return answer


def install(app: FastAPI) -> int:
    """Make every plain route of `app` direct (call after the routes are
    added and strict_bodies installed); returns how many. Only the app's
    own routes (svc_common.routes.add_routes): a route reached through an
    included router is served by that inclusion's app, with its router's
    dependencies, and a route with its own body limit by FastAPI's."""
    made = 0
    for route in app.router.routes:
        if not isinstance(route, APIRoute) or getattr(route, "max_body_size", None):
            continue
        plan = _plan(route)
        if plan is None or getattr(route.app, DIRECT, False):
            continue
        route.app = _direct(route, plan)
        made += 1
    return made

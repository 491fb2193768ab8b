"""Direct routes (svc_common.direct_routes) answer as FastAPI would.

The same app is built twice, with its plain routes direct and without, and
every request below goes to both: good ones, and every way a body, a path,
a query, a token or a content type can be wrong. Status, body and the
headers a client reads must be the same, byte for byte; the direct app must
have taken its own way for the good ones (counted), else the comparison
would prove nothing.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from svc_common import direct_routes, testing
from svc_common.auth import Principal, require
from svc_common.errors import Conflict
from svc_common.openapi import api_routes
from svc_common.service import ServiceSpec, create_app
from svc_common.settings import ServiceSettings
from svc_common.types import ResourceId

QUOTA_MIGRATIONS = Path(__file__).parents[3] / "services/quota-svc/src/quota_svc/migrations"


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    district: str = Field(pattern=r"^\d{6}$")
    amount_t: str = Field(max_length=20)
    count: int = 1
    flag: bool = False


class Amount(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount_t: str | None = None


def _echo(**values: Any) -> Response:
    return JSONResponse(
        {k: v.model_dump() if isinstance(v, BaseModel) else v for k, v in values.items()},
        status_code=201,
    )


async def _asked_by_keyword(*, request: Request) -> str:
    return request.url.path


def _router() -> APIRouter:
    """The routes, made anew for each app (an app's routes are its router's
    own objects, which making them direct changes)."""
    router = APIRouter()

    @router.post("/d/items")
    async def add_item(
        item: Item, principal: Principal = Depends(require("officer", "admin"))
    ) -> Response:
        principal.require_district(item.district)
        if item.amount_t == "conflict":
            raise Conflict("the item says so", reason="demo")
        return _echo(item=item, sub=principal.sub)

    @router.post("/d/things/{thing_id}/take")
    async def take_thing(
        thing_id: ResourceId,
        body: Amount | None = None,
        principal: Principal = Depends(require("officer", "admin")),
    ) -> Response:
        return _echo(thing_id=thing_id, body=body, sub=principal.sub)

    @router.post("/d/things/{thing_id}/close")
    async def close_thing(
        thing_id: ResourceId, principal: Principal = Depends(require("admin"))
    ) -> Response:
        """A write whose document has no body (strict_bodies' check applies)."""
        return _echo(thing_id=thing_id, closed_by=principal.sub)

    @router.get("/d/things")
    async def list_things(
        district: str | None = Query(None, pattern=r"^\d{6}$"),
        limit: int = Query(10, ge=1, le=100),
        principal: Principal = Depends(require("officer", "admin", "investment")),
    ) -> Response:
        return _echo(district=district, limit=limit, sub=principal.sub)

    @router.get("/d/by-keyword")
    async def by_keyword(asked: str = Depends(_asked_by_keyword)) -> Response:
        """A dependency whose request parameter is keyword-only."""
        return _echo(asked=asked)

    @router.get("/d/models/{thing_id}")
    async def a_model(thing_id: ResourceId) -> Amount:
        """Returns a model: FastAPI serialises it, so the route is not direct."""
        return Amount(amount_t=thing_id)

    return router


#: The cases (by index) the direct app handed to FastAPI.
HANDED: list[int] = []


def _counted(fallback: Any) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        HANDED.append(int(dict(scope["headers"])[b"x-case"]))
        await fallback(scope, receive, send)

    return app


def _app(url: str, direct: bool, monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    spec = ServiceSpec(
        name="d-svc",
        prefix="/d",
        title="d",
        description="d",
        migrations_dir=QUOTA_MIGRATIONS,
        routers=[_router()],
    )
    with monkeypatch.context() as m:
        m.setattr(direct_routes, "install", lambda app: 0)
        app = create_app(spec, ServiceSettings(database_url=url, log_json=False))
    if direct:
        for ctx in api_routes(app.routes):
            ctx.original_route.app = _counted(ctx.original_route.app)
        assert direct_routes.install(app) >= 4
    return app


OFFICER = testing.auth("officer", ["120119"], sub="officer.wang")
ADMIN = testing.auth("admin", sub="admin.zhang")
INVESTMENT = testing.auth("investment", sub="investment.liu")
JSON = {"Content-Type": "application/json"}

GOOD = '{"district": "120119", "amount_t": "1.5", "count": 2}'

#: (method, path, headers, body, the way the direct app takes: D its own, F
#: FastAPI's, N a route not direct, X refused before any route): requests
#: both apps answer alike. A body a
#: body-less write refuses is refused on the direct way too (strict_bodies'
#: check is a dependency it runs).
CASES: list[tuple[str, str, dict[str, str], str | bytes | None, str]] = [
    # answered directly
    ("POST", "/d/items", {**OFFICER, **JSON}, GOOD, "D"),
    ("POST", "/d/items", {**OFFICER, "Content-Type": "application/json; charset=utf-8"}, GOOD, "D"),
    ("POST", "/d/things/t-1/take", {**OFFICER, **JSON}, '{"amount_t": "2"}', "D"),
    ("POST", "/d/things/t-1/take", {**OFFICER, **JSON}, "{}", "D"),
    ("POST", "/d/things/t-1/take", {**OFFICER, **JSON}, "null", "D"),
    ("POST", "/d/things/t-1/take", OFFICER, None, "D"),
    ("POST", "/d/things/t-1/close", ADMIN, None, "D"),
    ("POST", "/d/things/t-1/close", {**ADMIN, **JSON}, "{}", "D"),
    ("GET", "/d/things?district=120119&limit=5", INVESTMENT, None, "D"),
    ("GET", "/d/things", OFFICER, None, "D"),
    # errors raised by a dependency or the endpoint, after a valid request
    ("POST", "/d/items", JSON, GOOD, "D"),
    ("POST", "/d/items", {**INVESTMENT, **JSON}, GOOD, "D"),
    ("POST", "/d/items", {**OFFICER, **JSON}, GOOD.replace("120119", "120115"), "D"),
    (
        "POST",
        "/d/items",
        {**OFFICER, **JSON},
        '{"district": "120119", "amount_t": "conflict"}',
        "D",
    ),
    ("POST", "/d/things/t-1/close", OFFICER, None, "D"),
    # handed to FastAPI: bodies
    ("POST", "/d/items", {**OFFICER, **JSON}, '{"district": "120119", "amount_t": 1.5}', "F"),
    ("POST", "/d/items", {**OFFICER, **JSON}, '{"district": "12011", "amount_t": "1"}', "F"),
    (
        "POST",
        "/d/items",
        {**OFFICER, **JSON},
        '{"district": "120119", "amount_t": "1", "x": 1}',
        "F",
    ),
    (
        "POST",
        "/d/items",
        {**OFFICER, **JSON},
        '{"district": "120119", "amount_t": "1", "count": "2"}',
        "F",
    ),
    (
        "POST",
        "/d/items",
        {**OFFICER, **JSON},
        '{"district": "120119", "amount_t": "1", "count": 2.0}',
        "D",
    ),
    (
        "POST",
        "/d/items",
        {**OFFICER, **JSON},
        '{"district": "120119", "amount_t": "1", "count": NaN}',
        "F",
    ),
    (
        "POST",
        "/d/items",
        {**OFFICER, **JSON},
        '{"district": "120119", "amount_t": "1", "count": 1e400}',
        "F",
    ),
    ("POST", "/d/items", {**OFFICER, **JSON}, '{"district": "120119", "amount_t": "\\ud800"}', "F"),
    (
        "POST",
        "/d/items",
        {**OFFICER, **JSON},
        '{"district": "120119", "district": "120115", "amount_t": "1"}',
        "D",
    ),
    ("POST", "/d/items", {**OFFICER, **JSON}, '{"district": "120119", "amount_t": "1"', "F"),
    ("POST", "/d/items", {**OFFICER, **JSON}, "[]", "F"),
    ("POST", "/d/items", {**OFFICER, **JSON}, "null", "F"),
    ("POST", "/d/items", {**OFFICER, **JSON}, "", "F"),
    ("POST", "/d/items", OFFICER, GOOD, "F"),
    ("POST", "/d/items", {**OFFICER, "Content-Type": "text/plain"}, GOOD, "F"),
    ("POST", "/d/items", {**OFFICER, "Content-Type": "application/merge-patch+json"}, GOOD, "F"),
    ("POST", "/d/items", {**OFFICER, "Content-Type": "application/json;charset=UTF-8"}, GOOD, "F"),
    ("POST", "/d/items", {**OFFICER, **JSON}, b'{"district": "120119", "amount_t": "\xff"}', "X"),
    ("POST", "/d/items", {**JSON}, '{"district": 1}', "F"),
    ("POST", "/d/things/t-1/take", {**OFFICER, **JSON}, '{"amount_t": 2}', "F"),
    ("POST", "/d/things/t-1/take", {**OFFICER, **JSON}, '{"amount": "2"}', "F"),
    ("POST", "/d/things/t-1/close", {**ADMIN, **JSON}, '{"zzz": 1}', "D"),
    ("POST", "/d/things/t-1/close", {**ADMIN, **JSON}, "[1]", "D"),
    # handed to FastAPI: paths and queries
    ("POST", "/d/things/-bad/take", {**OFFICER, **JSON}, "{}", "F"),
    ("POST", "/d/things/" + "x" * 65 + "/take", {**OFFICER, **JSON}, "{}", "F"),
    ("GET", "/d/things?limit=0", INVESTMENT, None, "F"),
    ("GET", "/d/things?limit=ten", INVESTMENT, None, "F"),
    ("GET", "/d/things?district=1201190", INVESTMENT, None, "F"),
    ("GET", "/d/things?limit=5", {}, None, "D"),
    ("GET", "/d/by-keyword", {}, None, "D"),
    ("GET", "/d/models/m-1", {}, None, "N"),
    ("DELETE", "/d/items", OFFICER, None, "X"),
]

#: Headers that differ between any two answers (ids, times).
_VOLATILE = {"date", "x-request-id", "traceparent", "x-correlation-id", "server-timing"}


def _seen(r: Any) -> tuple[int, bytes, dict[str, str]]:
    headers = {k: v for k, v in r.headers.items() if k.lower() not in _VOLATILE}
    return r.status_code, re.sub(rb'"request_id":"[^"]*"', b"", r.content), headers


async def test_direct_routes_answer_as_fastapi_does(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers: dict[bool, list[tuple[int, bytes, dict[str, str]]]] = {}
    HANDED.clear()
    for direct in (False, True):
        app = _app(db_url, direct, monkeypatch)
        async with testing.running(app) as c:
            for lang in ("en", "zh-CN"):
                for i, (method, path, headers, body, _way) in enumerate(CASES):
                    h = {**headers, "Accept-Language": lang, "X-Case": str(i)}
                    if method != "GET":
                        h.setdefault("Idempotency-Key", f"k-{direct}-{lang}-{i}")
                    answers.setdefault(direct, []).append(
                        _seen(await c.request(method, path, headers=h, content=body))
                    )
    for i, (plain, direct) in enumerate(zip(answers[False], answers[True], strict=True)):
        case = CASES[i % len(CASES)]
        assert plain == direct, case
    statuses = {s for s, _b, _h in answers[True]}
    assert {201, 401, 403, 409, 415, 422} <= statuses, statuses
    # Each request took the way it should in the direct app, in both languages.
    ways = {way: {i for i, c in enumerate(CASES) if c[4] == way} for way in "DFNX"}
    assert set(HANDED) == ways["F"] | ways["N"]
    assert len(HANDED) == 2 * len(ways["F"] | ways["N"])


def test_plain_routes_are_made_direct(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = _app(f"sqlite+aiosqlite:///{tmp_path}/db.sqlite", True, monkeypatch)
    direct = {
        f"{','.join(sorted(ctx.methods))} {ctx.path_format}"
        for ctx in api_routes(app.routes)
        if getattr(ctx.original_route.app, direct_routes.DIRECT, False)
    }
    assert {
        "POST /d/items",
        "POST /d/things/{thing_id}/take",
        "POST /d/things/{thing_id}/close",
        "GET /d/things",
    } <= direct
    assert "GET /d/models/{thing_id}" not in direct


def test_quotas_hot_routes_are_direct(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The routes a hot pool's load takes (issue 14): reservations, their
    allocations, a reservation read and availability."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/db.sqlite")
    from quota_svc.app import create

    app = create()
    direct = {
        f"{','.join(sorted(ctx.methods))} {ctx.path_format}"
        for ctx in api_routes(app.routes)
        if getattr(ctx.original_route.app, direct_routes.DIRECT, False)
    }
    assert {
        "POST /quota/reservations",
        "POST /quota/reservations/{reservation_id}/allocate",
        "GET /quota/reservations/{reservation_id}",
        "GET /quota/availability",
    } <= direct


def test_a_route_of_an_included_router_is_left_to_its_inclusion() -> None:
    """Served through the inclusion's app, with the router's dependencies:
    made direct, it would be counted so and never run."""
    app = FastAPI()
    app.include_router(_router(), dependencies=[Depends(_asked_by_keyword)])
    assert direct_routes.install(app) == 0

"""`routes.add_routes` serves a router's routes from the app's own list: the
same answers, 405s and OpenAPI document as `include_router`, and a router
with what only an inclusion applies is refused."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel
from svc_common.routes import add_routes


class Item(BaseModel):
    name: str


def _router() -> APIRouter:
    router = APIRouter(prefix="/things", tags=["things"])

    @router.get("/{thing_id}", response_model=Item, responses={404: {"description": "none"}})
    async def read(thing_id: int) -> Item:
        return Item(name=f"thing {thing_id}")

    @router.post("", status_code=201, response_model=Item)
    async def create(body: Item) -> Item:
        return body

    return router


def _apps() -> tuple[FastAPI, FastAPI]:
    included, added = FastAPI(), FastAPI()
    included.include_router(_router())
    add_routes(added, _router())
    return included, added


def test_the_same_openapi_document_and_answers() -> None:
    included, added = _apps()
    assert added.openapi() == included.openapi()
    for app in (included, added):
        c = TestClient(app)
        assert c.get("/things/7").json() == {"name": "thing 7"}
        assert c.post("/things", json={"name": "a"}).status_code == 201
        assert c.post("/things", json={}).status_code == 422
        assert c.delete("/things/7").status_code == 405
        assert c.get("/nothing").status_code == 404
    # Plain routes on the app, not one included router.
    assert all(type(r).__name__ != "_IncludedRouter" for r in added.router.routes)


def test_a_router_with_what_only_an_inclusion_applies_is_refused() -> None:
    with_deps = APIRouter(dependencies=[Depends(lambda: None)])
    with pytest.raises(ValueError, match="include_router"):
        add_routes(FastAPI(), with_deps)
    outer = APIRouter()
    outer.include_router(_router())
    with pytest.raises(ValueError, match="include_router"):
        add_routes(FastAPI(), outer)


def test_the_route_that_serves_a_write_says_whether_it_keeps_its_answer() -> None:
    """`keeps_answer` asks the route the router would pick (the first that
    matches path and method), not any route the path matches."""
    from svc_common.routes import keeps_answer, keeps_answer_with_effect

    app = FastAPI()

    @app.post("/things/{thing_id}/spare")
    @keeps_answer_with_effect
    async def spare(thing_id: int) -> None: ...

    @app.post("/things/first")
    async def first() -> None: ...

    @app.post("/things/{thing_id}")
    @keeps_answer_with_effect
    async def shadowed(thing_id: str) -> None: ...

    @app.put("/things/{thing_id}")
    @keeps_answer_with_effect
    async def replace(thing_id: str) -> None: ...

    assert keeps_answer(app, "POST", "/things/7/spare")
    assert keeps_answer(app, "POST", "/things/8")
    assert keeps_answer(app, "PUT", "/things/first")
    # The router serves POST /things/first from `first`, declared earlier.
    assert not keeps_answer(app, "POST", "/things/first")
    assert not keeps_answer(app, "DELETE", "/things/8")
    assert not keeps_answer(app, "POST", "/elsewhere")

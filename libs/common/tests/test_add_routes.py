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

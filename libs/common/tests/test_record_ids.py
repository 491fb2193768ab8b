"""An id named in a path, a query or a body: a UUID in upper case names the
record its lower case does, and the API's document states the form the
service checks (a client that reads it sends nothing it then refuses)."""

from __future__ import annotations

import uuid

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel
from svc_common.types import ID_PATTERN, RecordId, ResourceId


class Named(BaseModel):
    replaces: list[RecordId] = []


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/things/{thing_id}")
    def thing(thing_id: ResourceId) -> str:
        return thing_id

    @app.get("/things")
    def things(plan_id: RecordId | None = None) -> str:
        return plan_id or ""

    @app.post("/things")
    def name(body: Named) -> list[str]:
        return body.replaces

    return app


def test_the_document_states_the_id_pattern_in_a_path_a_query_and_a_body() -> None:
    doc = _app().openapi()
    path = doc["paths"]["/things/{thing_id}"]["get"]["parameters"][0]["schema"]
    query = doc["paths"]["/things"]["get"]["parameters"][0]["schema"]["anyOf"][0]
    body = doc["components"]["schemas"]["Named"]["properties"]["replaces"]["items"]
    for schema in (path, query, body):
        assert schema["pattern"] == ID_PATTERN and schema["minLength"] == 1, schema


def test_an_upper_case_uuid_names_the_same_record_and_a_malformed_id_is_refused() -> None:
    client = TestClient(_app())
    given = str(uuid.uuid4())
    assert client.get(f"/things/{given.upper()}").json() == given
    assert client.get("/things", params={"plan_id": given.upper()}).json() == given
    assert client.post("/things", json={"replaces": [given.upper()]}).json() == [given]
    for bad in ("", "-x", "a b"):
        assert client.get("/things", params={"plan_id": bad}).status_code == 422, bad
        assert client.post("/things", json={"replaces": [bad]}).status_code == 422, bad

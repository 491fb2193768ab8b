"""The OpenAPI documents say what the services do (issue 9): checked on the
documents themselves, for every operation, so a new route is held to the same
rules the day it is added.

- every error response is problem+json, with the statuses the shared
  mechanisms can give (401/403 where a token is needed, 404 where the path
  names a resource, 413/415/422 where there is a body, 503 everywhere a
  database is behind);
- every operation has a readable operationId and summary, Accept-Language,
  and Idempotency-Key on writes;
- every string a client sends is bounded or constrained, and the shared
  fields (district, uscc, cursor, pollutant, amounts) carry their shared
  constraints;
- every upload endpoint declares its media types; /metrics is text/plain.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from svc_common.districts import DISTRICTS
from svc_common.errors import PROBLEM_JSON

WRITE = {"post", "put", "patch", "delete"}
METHODS = WRITE | {"get"}


def _ops(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield path, method, op


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = doc["components"]["schemas"][name]
    return schema


def _fields(
    doc: dict[str, Any], schema: dict[str, Any], where: str, seen: set[str] | None = None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(dotted name, schema) of every leaf a request body can hold."""
    seen = set() if seen is None else seen
    ref = schema.get("$ref")
    if ref:
        if ref in seen:
            return
        seen = seen | {ref}
    schema = _resolve(doc, schema)
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            yield from _fields(doc, sub, where, seen)
    if schema.get("type") == "object" or "properties" in schema:
        for name, sub in schema.get("properties", {}).items():
            yield from _fields(doc, sub, f"{where}.{name}", seen)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            yield from _fields(doc, extra, f"{where}.*", seen)
    elif schema.get("type") == "array":
        yield from _fields(doc, schema.get("items", {}), f"{where}[]", seen)
    elif not any(k in schema for k in ("anyOf", "oneOf", "allOf")) and schema.get("type") != "null":
        yield where, schema


def _inputs(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(operation, field, schema) of every parameter and JSON body field."""
    for path, method, op in _ops(doc):
        label = f"{method.upper()} {path}"
        for p in op.get("parameters", []):
            yield from (
                (label, f"{p['in']}.{p['name']}", s)
                for _, s in _fields(doc, p.get("schema", {}), p["name"])
            )
        content = (op.get("requestBody") or {}).get("content", {})
        if "application/json" in content:
            for name, s in _fields(doc, content["application/json"]["schema"], "body"):
                yield label, name, s


def documents() -> dict[str, dict[str, Any]]:
    """Each service's OpenAPI document, as it serves it (no database needed)."""
    from bureau.embedded import Embedded

    with tempfile.TemporaryDirectory() as data:
        apps = Embedded(Path(data)).apps
        return {prefix.strip("/"): app.openapi() for prefix, app in apps.items()}


def _leaf_name(field: str) -> str:
    return re.split(r"[.\[\]]+", field.rstrip("[]"))[-1]


DOCS = documents()


@pytest.mark.parametrize("service", sorted(DOCS))
def test_every_operation_is_described(service: str) -> None:
    doc = DOCS[service]
    ids: set[str] = set()
    problems = []
    for path, method, op in _ops(doc):
        label = f"{method.upper()} {path}"
        op_id = op.get("operationId", "")
        if not re.fullmatch(r"[a-z][a-zA-Z0-9]{2,60}", op_id) or op_id in ids:
            problems.append(f"{label}: operationId {op_id!r} is not readable or not unique")
        ids.add(op_id)
        if not op.get("summary") or op["summary"].lower().replace(" ", "_") == op_id:
            problems.append(f"{label}: no summary")
        headers = {p["name"].lower() for p in op.get("parameters", []) if p["in"] == "header"}
        if "accept-language" not in headers:
            problems.append(f"{label}: Accept-Language not declared")
        if method in WRITE and "idempotency-key" not in headers:
            problems.append(f"{label}: Idempotency-Key not declared")
        responses = op["responses"]
        for code, resp in responses.items():
            # The readiness probe's 503 is its own report of what is down.
            probe = path.endswith("/ready") and code == "503"
            if code[0] in "45" and PROBLEM_JSON not in resp.get("content", {}) and not probe:
                problems.append(f"{label}: {code} is not problem+json")
        if op.get("security"):
            for code in ("401", "403", "503"):
                if code not in responses:
                    problems.append(f"{label}: {code} not documented")
            if "WWW-Authenticate" not in responses["401"].get("headers", {}):
                problems.append(f"{label}: 401 without WWW-Authenticate")
        if "{" in path and "404" not in responses:
            problems.append(f"{label}: 404 not documented")
        if op.get("requestBody"):
            for code in ("413", "422"):
                if code not in responses:
                    problems.append(f"{label}: {code} not documented")
    assert not problems, "\n".join(problems)


def _bounded(schema: dict[str, Any]) -> bool:
    if schema.get("type") != "string":
        return True
    return any(k in schema for k in ("maxLength", "enum", "const", "pattern", "format"))


#: Fields that hold an enterprise's code: the shared USCC (a trade's parties too).
USCC_FIELDS = {"uscc", "seller", "buyer"}


@pytest.mark.parametrize("service", sorted(DOCS))
def test_every_input_is_bounded_and_shared_fields_are_constrained(service: str) -> None:
    doc = DOCS[service]
    problems = []
    for label, field, schema in _inputs(doc):
        name = _leaf_name(field)
        if field.startswith("header."):
            continue
        if not _bounded(schema):
            problems.append(f"{label} {field}: an unbounded string")
        if name == "district" and sorted(schema.get("enum", [])) != sorted(DISTRICTS):
            problems.append(f"{label} {field}: not the shared DistrictCode")
        if name in USCC_FIELDS and schema.get("format") != "uscc":
            problems.append(f"{label} {field}: not the shared USCC")
        if name == "cursor" and not (schema.get("maxLength") and schema.get("pattern")):
            problems.append(f"{label} {field}: not the shared Cursor")
        if name == "pollutant" and not (schema.get("enum") or schema.get("pattern")):
            problems.append(f"{label} {field}: pollutant without enum or pattern")
        if name.endswith("_t") and schema.get("type") == "string" and not schema.get("pattern"):
            problems.append(f"{label} {field}: amount without the decimal pattern")
    assert not problems, "\n".join(problems)


#: The lists of a district's records that answer one JSON array, and why
#: they need no pages. Any other does: it takes `limit` and `cursor` and
#: answers `{items, next_cursor}` (svc_common.pagination).
BOUNDED_LISTS = {
    "/quota/availability": "a row per pool of the districts asked (17 × 4 at most)",
    "/quota/balances": "a row per pool",
    "/eia/control-units": "the city's control units, a handful per district",
    "/supervision/complaints/clusters": "bounded by its own `limit`",
}


@pytest.mark.parametrize("service", sorted(DOCS))
def test_lists_of_records_are_paged(service: str) -> None:
    doc = DOCS[service]
    problems = []
    for path, item in doc["paths"].items():
        op = item.get("get")
        if op is None or path in BOUNDED_LISTS:
            continue
        query = {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
        ok = op["responses"].get("200", {}).get("content", {}).get("application/json", {})
        schema = _resolve(doc, ok.get("schema", {}))
        if "district" in query and schema.get("type") == "array":
            problems.append(f"GET {path}: a district's records in one array, no pages")
        if "next_cursor" in schema.get("properties", {}) and not {"limit", "cursor"} <= query:
            problems.append(f"GET {path}: pages without `limit` and `cursor`")
    assert not problems, "\n".join(problems)


UPLOAD_TYPES = {"text/csv", "application/x-ndjson"}


@pytest.mark.parametrize("service", sorted(DOCS))
def test_uploads_declare_their_media_types(service: str) -> None:
    doc = DOCS[service]
    problems = []
    for path, method, op in _ops(doc):
        if method == "post" and re.search(r":(import|bulk)$", path):
            content = set((op.get("requestBody") or {}).get("content", {}))
            if not content & UPLOAD_TYPES:
                problems.append(f"POST {path}: no CSV or NDJSON request body")
            if "415" not in op["responses"]:
                problems.append(f"POST {path}: 415 not documented")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("service", sorted(DOCS))
def test_probes_are_documented(service: str) -> None:
    doc = DOCS[service]
    prefix = f"/{service}"
    metrics = doc["paths"][f"{prefix}/metrics"]["get"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain"]
    ready = doc["paths"][f"{prefix}/ready"]["get"]["responses"]
    assert {"200", "503"} <= set(ready)
    assert "application/json" in ready["503"]["content"]
    assert f"{prefix}/health" in doc["paths"]


@pytest.mark.parametrize("service", sorted(s for s in DOCS if s != "console"))
def test_creations_link_to_what_can_be_done_with_their_record(service: str) -> None:
    """Each `POST /x` answering a record links to the operations on
    `/x/{key}…` (the stateful fuzzing follows them), and every link names an
    operation of the document and one of its path parameters."""
    doc = DOCS[service]
    by_id = {op["operationId"]: (path, op) for path, _, op in _ops(doc)}
    linked: set[str] = set()
    problems = []
    for path, method, op in _ops(doc):
        for status, answer in op["responses"].items():
            for name, link in (answer.get("links") or {}).items():
                target = by_id.get(link["operationId"])
                if target is None:
                    problems.append(f"{method} {path} {status}: {name} names no operation")
                    continue
                for where, value in link["parameters"].items():
                    place, param = where.split(".", 1)
                    if place != "path" or "{" + param + "}" not in target[0]:
                        problems.append(f"{name}: {where} is not a path parameter")
                    if not value.startswith("$response.body#/"):
                        problems.append(f"{name}: {value} is not taken from the answer")
                linked.add(target[0])
    collections = {
        p for p, m, op in _ops(doc) if m == "post" and "{" not in p and "201" in op["responses"]
    }
    for collection in collections:
        items = [p for p in doc["paths"] if p.startswith(collection + "/{")]
        if items and not set(items) & linked:
            problems.append(f"POST {collection} links to none of {items}")
    assert not problems, "\n".join(problems)


def _patterns() -> list[str]:
    """Every pattern a parameter or JSON body field is documented with."""
    return sorted(
        {s["pattern"] for doc in DOCS.values() for _, _, s in _inputs(doc) if "pattern" in s}
    )


#: Characters the front door refuses in any text (svc_common.guard.REFUSED).
_REFUSED_SAMPLES = "\x00\x01\x07\x0b\x0c\x1c\x1f\x7f\x85\x9f\u202a\u202e\u2066\u2069"


@pytest.mark.parametrize("pattern", _patterns())
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_no_documented_pattern_admits_what_the_front_door_refuses(
    pattern: str, data: st.DataObject
) -> None:
    """A pattern that let a refused character through (a `\\s` admits a
    vertical tab) makes a schema-valid request that the door refuses: the
    fuzzer's "valid data rejected". Any value of the pattern, with a refused
    character put anywhere in it, must no longer match."""
    compiled = re.compile(pattern)
    value = data.draw(st.from_regex(compiled, fullmatch=True))
    at = data.draw(st.integers(min_value=0, max_value=len(value)))
    for c in _REFUSED_SAMPLES:
        probe = value[:at] + c + value[at:]
        assert not compiled.search(probe), (pattern, probe)

"""Answers serialised once, for hot routes.

A route that returns models lets FastAPI dump them to dicts, validate those
again against its `response_model` and serialise the result: three passes
over every field of every row. A route whose rows were just built as those
very models (so validated once already) can answer with `answer(...)`
instead: one pass, pydantic's own JSON encoder, the same body. The route
keeps its `response_model`, so its OpenAPI schema does not change.

A route whose rows are plain data already in the answer's form (amounts
as their strings) answers with `answer_data(...)`: written by orjson in one
pass, no model built at all; its tests hold the bytes to what the validated
model writes."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Response
from pydantic import TypeAdapter

from svc_common.fastjson import dumps_data

T = TypeVar("T")

_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def answer(shape: Any, value: T, status_code: int = 200) -> Response:
    """`value` (of type `shape`, e.g. list[SomeOut]) as a JSON response."""
    adapter = _ADAPTERS.get(shape)
    if adapter is None:
        adapter = _ADAPTERS[shape] = TypeAdapter(shape)
    return Response(
        adapter.dump_json(value), status_code=status_code, media_type="application/json"
    )


def answer_data(value: Any, status_code: int = 200) -> Response:
    """`value`, JSON data in the answer's own form (dicts, lists, strings,
    numbers), as a JSON response, written as pydantic writes it: compact,
    not ASCII-escaped (svc_common.fastjson)."""
    return Response(dumps_data(value), status_code=status_code, media_type="application/json")

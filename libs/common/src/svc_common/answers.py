"""Answers serialised once, for hot routes.

A route that returns models lets FastAPI dump them to dicts, validate those
again against its `response_model` and serialise the result: three passes
over every field of every row. A route whose rows were just built as those
very models (so validated once already) can answer with `answer(...)`
instead: one pass, pydantic's own JSON encoder, the same body. The route
keeps its `response_model`, so its OpenAPI schema does not change."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Response
from pydantic import TypeAdapter

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

"""Text no database can hold (a lone surrogate escape, "\\ud800") and an
upload whose header names a column twice: a clear refusal naming the field
or the column, in the caller's language, never a 500, nothing written."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import FastAPI

from ..conftest import count_rows, filer, registration

LONE = "\\ud800"  # as JSON writes it: a surrogate with no pair
NOT_UNICODE_ZH = "不是有效的 Unicode 文本"
JSON = {**filer(), "content-type": "application/json"}


def with_lone_surrogate(body: dict[str, object], field: str) -> str:
    """`body` as JSON with `field` holding a lone surrogate escape."""
    return json.dumps({**body, field: "@LONE@"}).replace('"@LONE@"', f'"{LONE}"')


@pytest.mark.parametrize(
    "field", ["project_type", "control_unit", "park_id", "project_name", "district"]
)
async def test_a_single_filing_with_a_lone_surrogate_names_the_field(
    client: httpx.AsyncClient, field: str
) -> None:
    """The screening of a form that failed its shape checks looked up its
    project type, control unit and park with the text as sent: a 500."""
    r = await client.post(
        "/eia/registrations",
        content=with_lone_surrogate(registration(), field),
        headers={**JSON, "accept-language": "zh-CN"},
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    errors = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert NOT_UNICODE_ZH in errors[field], r.json()
    app: FastAPI = client.app  # type: ignore[attr-defined]
    assert await count_rows(app, "registrations") == 0

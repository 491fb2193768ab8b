"""Reading bulk uploads (CSV or JSON lines) into numbered rows, and the
dialect's INSERT for upserts. Rows are validated in Python and written with
one executemany per chunk: no per-row ORM flush."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.errors import Problem, Unprocessable

CSV_TYPES = ("text/csv",)
NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-lines")
#: Rows per executemany; small enough to keep each statement's memory modest.
CHUNK = 2000
#: A bound on one upload, so a request cannot exhaust memory.
MAX_ROWS = 200_000


class UnsupportedMediaType(Problem):
    status, code, title = 415, "unsupported-media-type", "Unsupported media type"


@dataclass(slots=True)
class RawRow:
    """One row of an upload: its 1-based number, its fields or why it could not be read."""

    row: int
    data: dict[str, Any] | None
    error: str | None = None


def parse_upload(content_type: str, body: bytes, *, csv_allowed: bool = True) -> list[RawRow]:
    media = content_type.split(";", 1)[0].strip().lower()
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Unprocessable("the upload is not UTF-8 text") from exc
    if media in CSV_TYPES and csv_allowed:
        rows = _csv_rows(text)
    elif media in NDJSON_TYPES:
        rows = _ndjson_rows(text)
    else:
        allowed = (CSV_TYPES if csv_allowed else ()) + NDJSON_TYPES
        raise UnsupportedMediaType(
            f"content-type {media or '(none)'} is not accepted; use one of: " + ", ".join(allowed),
            accepted=list(allowed),
        )
    if not rows:
        raise Unprocessable("the upload has no rows")
    if len(rows) > MAX_ROWS:
        raise Unprocessable(f"at most {MAX_ROWS} rows per upload; split it", max_rows=MAX_ROWS)
    return rows


async def read_upload(request: Request, *, csv_allowed: bool = True) -> list[RawRow]:
    return parse_upload(
        request.headers.get("content-type", ""), await request.body(), csv_allowed=csv_allowed
    )


def _csv_rows(text: str) -> list[RawRow]:
    reader = csv.DictReader(io.StringIO(text))
    out = []
    for i, rec in enumerate(reader, start=1):
        if None in rec:  # more cells than header columns
            out.append(RawRow(i, None, "the row has more cells than the header"))
            continue
        out.append(RawRow(i, {k.strip(): (v or "").strip() for k, v in rec.items() if k}))
    return out


def _ndjson_rows(text: str) -> list[RawRow]:
    out = []
    loads = json.loads
    lines = [line for line in text.splitlines() if line.strip()]
    for i, line in enumerate(lines, start=1):
        try:
            value = loads(line)
        except json.JSONDecodeError as exc:
            out.append(RawRow(i, None, f"not valid JSON: {exc.msg}"))
            continue
        out.append(
            RawRow(i, value)
            if type(value) is dict
            else RawRow(i, None, "each line must be a JSON object")
        )
    return out


def dialect_insert(session: AsyncSession, table: Table) -> PgInsert | SqliteInsert:
    """INSERT … ON CONFLICT is spelt the same on both; pick the dialect's construct."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def chunks(items: list[Any], size: int = CHUNK) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]

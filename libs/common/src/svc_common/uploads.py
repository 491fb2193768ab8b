"""Bulk uploads (CSV with a header row, or JSON lines) read into numbered
rows. An unreadable upload is refused as a whole (415 for another media type,
413 past the row limit, 422 for bad encoding or no rows); a bad row is kept,
with why, so the other rows can still be processed and each gets a result."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from svc_common.errors import Problem, field_error

CSV_TYPES = ("text/csv", "application/csv")
NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-lines")


class UnsupportedMediaType(Problem):
    status, code, title = 415, "unsupported-media-type", "Unsupported media type"


class PayloadTooLarge(Problem):
    status, code, title = 413, "payload-too-large", "Payload too large"


@dataclass(slots=True)
class RawRow:
    """One row of an upload: its 1-based number, its fields, or why it could not be read."""

    row: int
    data: dict[str, Any] | None
    error: str | None = None


def parse_upload(
    content_type: str,
    body: bytes,
    *,
    max_rows: int,
    csv_allowed: bool = True,
    drop_empty_cells: bool = False,
) -> list[RawRow]:
    """The rows of an upload. `drop_empty_cells` leaves an empty CSV cell out
    of the row (so a field's default applies) instead of giving it as ""."""
    media = content_type.split(";", 1)[0].strip().lower()
    allowed = (CSV_TYPES if csv_allowed else ()) + NDJSON_TYPES
    if media not in allowed:
        raise UnsupportedMediaType(
            f"content-type {media or '(none)'} is not accepted; use one of: " + ", ".join(allowed),
            accepted=list(allowed),
        )
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise field_error("body", "the upload is not UTF-8 text") from exc
    rows = (
        _csv_rows(text, max_rows, drop_empty_cells)
        if media in CSV_TYPES
        else _ndjson_rows(text, max_rows)
    )
    if len(rows) > max_rows:
        raise PayloadTooLarge(
            f"an upload may have at most {max_rows} rows; split it", max_rows=max_rows
        )
    if not rows:
        raise field_error("body", "the upload has no rows")
    return rows


async def read_upload(
    request: Request, *, max_rows: int, csv_allowed: bool = True, drop_empty_cells: bool = False
) -> list[RawRow]:
    return parse_upload(
        request.headers.get("content-type", ""),
        await request.body(),
        max_rows=max_rows,
        csv_allowed=csv_allowed,
        drop_empty_cells=drop_empty_cells,
    )


def _csv_rows(text: str, max_rows: int, drop_empty: bool) -> list[RawRow]:
    out: list[RawRow] = []
    for i, rec in enumerate(csv.DictReader(io.StringIO(text)), start=1):
        if i > max_rows:  # one past the limit is enough to refuse
            out.append(RawRow(i, None, "over the row limit"))
            break
        if None in rec:  # more cells than header columns
            out.append(RawRow(i, None, "the row has more cells than the header"))
            continue
        cells = {k.strip(): (v or "").strip() for k, v in rec.items() if k}
        out.append(RawRow(i, {k: v for k, v in cells.items() if v} if drop_empty else cells))
    return out


def _ndjson_rows(text: str, max_rows: int) -> list[RawRow]:
    out: list[RawRow] = []
    loads = json.loads
    for line in text.splitlines():
        if not line.strip():
            continue
        i = len(out) + 1
        if i > max_rows:
            out.append(RawRow(i, None, "over the row limit"))
            break
        try:
            value = loads(line)
        except json.JSONDecodeError as exc:
            out.append(RawRow(i, None, f"this line is not valid JSON: {exc.msg}"))
            continue
        out.append(
            RawRow(i, value)
            if type(value) is dict
            else RawRow(i, None, "each line must be a JSON object")
        )
    return out

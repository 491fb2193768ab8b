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
from svc_common.guard import json_problem
from svc_common.i18n import msg

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


#: Longest CSV cell (the csv module's own limit); a longer one fails its row.
MAX_CELL_CHARS = csv.field_size_limit()


def _csv_rows(text: str, max_rows: int, drop_empty: bool) -> list[RawRow]:
    out: list[RawRow] = []
    # newline="": the csv module sees CR, LF and CRLF line ends alike (a
    # spreadsheet on an old Mac writes bare CRs) and keeps them inside quotes.
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        return out
    except csv.Error as exc:
        why = msg(f"the header row is unreadable: {exc}", f"表头无法读取：{exc}")
        raise field_error("body", why) from exc
    i = 0
    while True:
        i += 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            out.append(RawRow(i, None, _csv_error(exc)))
            continue
        if i > max_rows:  # one past the limit is enough to refuse
            out.append(RawRow(i, None, "over the row limit"))
            break
        if not any(c.strip() for c in cells):
            i -= 1  # a blank line is not a row
            continue
        if len(cells) > len(header):
            out.append(
                RawRow(
                    i,
                    None,
                    msg("the row has more cells than the header", "该行的单元格多于表头"),
                )
            )
            continue
        if any("\x00" in c for c in cells):
            out.append(
                RawRow(i, None, msg("NUL characters are not allowed", "不允许包含 NUL 字符"))
            )
            continue
        row = {k: (v or "").strip() for k, v in zip(header, cells, strict=False) if k}
        out.append(RawRow(i, {k: v for k, v in row.items() if v} if drop_empty else row))
    return out


def _csv_error(exc: csv.Error) -> str:
    if "field larger" in str(exc):
        return msg(
            f"a cell is longer than {MAX_CELL_CHARS} characters",
            f"有单元格超过 {MAX_CELL_CHARS} 个字符",
        )
    return msg(f"the row is not valid CSV: {exc}", f"该行不是有效的 CSV：{exc}")


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
        if problem := json_problem(line.encode("utf-8", "surrogatepass")):
            out.append(RawRow(i, None, problem))
            continue
        try:
            value = loads(line)
        except json.JSONDecodeError as exc:
            out.append(
                RawRow(
                    i, None, msg(f"this line is not valid JSON: {exc.msg}", "该行不是有效的 JSON")
                )
            )
            continue
        except (ValueError, RecursionError):
            out.append(RawRow(i, None, msg("this line is not valid JSON", "该行不是有效的 JSON")))
            continue
        out.append(
            RawRow(i, value)
            if type(value) is dict
            else RawRow(i, None, msg("each line must be a JSON object", "每行必须是一个 JSON 对象"))
        )
    return out

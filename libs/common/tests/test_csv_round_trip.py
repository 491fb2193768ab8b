"""What the system writes to CSV and .xlsx files it reads back as it was:
a cell holding a bare carriage return is quoted (lines end in CRLF), a CR
in a sheet is OOXML's `_x000D_`, and the CSV-injection guard's `'` is
taken off by every reader of such files, and only the guard's."""

from __future__ import annotations

import csv
import io
import pathlib
import re

import pytest
from openpyxl import Workbook, load_workbook
from svc_common.uploads import (
    XLSX_TYPE,
    csv_cell,
    csv_cell_read,
    csv_dict_writer,
    csv_writer,
    parse_upload,
    sheet_cell,
    sheet_cell_read,
)

TEXTS = [
    "plain",
    "line one\rline two",
    "\rfirst",
    "last\r",
    "a\r\nb",
    "lf\nonly",
    "tab\there",
    "\ttab first",
    "=1+1",
    "+86 22",
    "-某",
    "-5",
    "-5.25",
    "@SUM(1,2)",
    "'",
    "''",
    "'abc",
    "'=x",
    "'-5",
    "_x000D_ typed",
    "_x005F_ typed",
    "",
]


def test_every_cell_survives_the_csv_writer_and_reader() -> None:
    buf = io.StringIO()
    w = csv_writer(buf)
    w.writerow(["h", *range(len(TEXTS))])
    w.writerow(["v", *(csv_cell(t) for t in TEXTS)])
    text = buf.getvalue()
    # A bare CR is inside quotes: a reader splitting lines at CR (newline="")
    # or at LF alone reads the same two rows.
    for newline in ("", "\n"):
        rows = list(csv.reader(io.StringIO(text, newline=newline)))
        assert len(rows) == 2
        assert [csv_cell_read(c) for c in rows[1][1:]] == TEXTS
    rows = [r.data for r in parse_upload("text/csv", text.encode(), max_rows=10)]
    header = [str(i) for i in range(len(TEXTS))]
    assert rows == [{"h": "v", **{h: t.strip() for h, t in zip(header, TEXTS, strict=True)}}]


def test_a_dict_writer_quotes_a_lone_carriage_return() -> None:
    buf = io.StringIO()
    w = csv_dict_writer(buf, ["a", "b"])
    w.writeheader()
    w.writerow({"a": "x\ry", "b": "z"})
    assert buf.getvalue() == 'a,b\r\n"x\ry",z\r\n'


def test_the_guard_is_undone_exactly_and_nothing_else() -> None:
    for t in TEXTS:
        assert csv_cell_read(csv_cell(t)) == t, t
    # A leading apostrophe the guard never writes is the text's own.
    for own in ("'abc", "'-5", "'", "'1", "'中文"):
        assert csv_cell(own) == "''" + own[1:] if own[1:2] else csv_cell(own) == "''"
        assert csv_cell_read(own) == own, own
    for guarded, was in (("'=1", "=1"), ("'@x", "@x"), ("''x", "'x"), ("'-x", "-x")):
        assert csv_cell_read(guarded) == was


def test_a_guarded_csv_upload_is_read_as_it_was_written() -> None:
    names = ["=1+1", "@SUM(1,2)", "'=x", "'abc", "-5"]
    buf = io.StringIO()
    w = csv_writer(buf)
    w.writerow(["name"])
    w.writerows([[csv_cell(n)] for n in names])
    rows = parse_upload("text/csv", buf.getvalue().encode(), max_rows=10)
    assert [r.data for r in rows] == [{"name": n} for n in names]
    # Written by a person, not by the guard: left as it is.
    rows = parse_upload("text/csv", b"name\n'abc\n'-5\n", max_rows=10)
    assert [r.data for r in rows] == [{"name": "'abc"}, {"name": "'-5"}]


def test_a_carriage_return_survives_a_workbook(tmp_path: pathlib.Path) -> None:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("s")
    ws.append(["name"])
    for t in TEXTS:
        ws.append([sheet_cell(t)])
    path = tmp_path / "book.xlsx"
    wb.save(path)
    book = load_workbook(path, read_only=True)
    cells = [row[0] for row in book["s"].iter_rows(values_only=True)][1:]
    assert [sheet_cell_read(c or "") for c in cells] == TEXTS
    # Read as an upload (stripped as every cell is): the CR is back.
    rows = parse_upload(XLSX_TYPE, path.read_bytes(), max_rows=100)
    by_number = {r.row: r.data for r in rows}
    assert by_number[2] == {"name": "line one\rline two"}
    assert by_number[20] == {"name": "_x000D_ typed"}


@pytest.mark.parametrize(
    "root", ["libs/common/src", "services", "src"], ids=["common", "services", "cli"]
)
def test_every_csv_the_system_writes_goes_through_the_shared_writer(root: str) -> None:
    """One place decides how a CSV is laid out (svc_common.uploads.csv_writer)."""
    base = pathlib.Path(__file__).parents[3] / root
    own = {"uploads.py"}
    offenders = [
        str(p)
        for p in base.rglob("*.py")
        if "/tests/" not in str(p)
        and p.name not in own
        and re.search(r"csv\.(writer|DictWriter)\(", p.read_text(encoding="utf-8"))
    ]
    # The demo's generated uploads hold no text a guard or a CR concerns.
    assert [o for o in offenders if not o.endswith("bureau/demo.py")] == []

"""Bulk uploads: CSV or JSON lines into numbered rows; bad rows kept with why."""

from __future__ import annotations

import json

import pytest
from svc_common.errors import Unprocessable
from svc_common.uploads import PayloadTooLarge, UnsupportedMediaType, parse_upload


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

"""Filing numbers, post-hoc sampling and bulk parsing."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from eia_svc.registrations.rules import (
    BulkFormatError,
    filing_year,
    format_filing_no,
    parse_bulk,
    sampled_for_check,
)


def test_filing_number_format() -> None:
    assert format_filing_no("120115", 2026, 123) == "DJB-120115-2026-000123"


def test_year_follows_china_standard_time() -> None:
    # 31 Dec 2025 17:00 UTC is already 1 Jan 2026 in Tianjin.
    assert filing_year(dt.datetime(2025, 12, 31, 17, 0, tzinfo=dt.UTC)) == 2026
    assert filing_year(dt.datetime(2025, 12, 31, 15, 0, tzinfo=dt.UTC)) == 2025


def test_sampling_is_deterministic_and_near_the_rate() -> None:
    ids = [f"id-{i}" for i in range(20_000)]
    picked = [i for i in ids if sampled_for_check(i, 0.05)]
    assert 0.04 < len(picked) / len(ids) < 0.06
    assert picked == [i for i in ids if sampled_for_check(i, 0.05)]
    assert not any(sampled_for_check(i, 0.0) for i in ids[:100])
    assert all(sampled_for_check(i, 1.0) for i in ids[:100])


def test_csv_rows_drop_empty_cells() -> None:
    rows = parse_bulk(b"row_key,uscc,park_id\nk1,X,\nk2,Y,P1\n", "text/csv; charset=utf-8", 10)
    assert [r.data for r in rows] == [
        {"row_key": "k1", "uscc": "X"},
        {"row_key": "k2", "uscc": "Y", "park_id": "P1"},
    ]


def test_json_lines_keep_bad_lines_as_row_errors() -> None:
    body = "\n".join([json.dumps({"row_key": "a"}), "{oops", "[1]", ""]).encode()
    rows = parse_bulk(body, "application/x-ndjson", 10)
    assert len(rows) == 3
    assert rows[1].data == {"__invalid__": "this line is not JSON"}
    assert "__invalid__" in rows[2].data


def test_parsing_stops_one_past_the_limit() -> None:
    body = ("k\n" + "\n".join(f"r{i}" for i in range(50))).encode()
    assert len(parse_bulk(body, "text/csv", 10)) == 11


def test_unknown_content_type_and_bad_encoding() -> None:
    with pytest.raises(BulkFormatError):
        parse_bulk(b"{}", "application/xml", 10)
    with pytest.raises(BulkFormatError):
        parse_bulk(b"\xff\xfe", "text/csv", 10)

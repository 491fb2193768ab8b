"""The shared bulk answer: what the fast builder writes is exactly the
documented BulkReport, whatever the strings hold."""

from __future__ import annotations

import json

import pytest
from svc_common.bulk import BulkReport, BulkReportBuilder, BulkResult
from svc_common.errors import FieldError

AWKWARD = ['a"b', "back\\slash", "换行\n和制表\t", "\x00\x1f\x7f", "</script>", "", "é"]


def test_rows_in_upload_order_with_totals() -> None:
    b = BulkReportBuilder()
    b.error(3, [FieldError(field="uscc", message="校验码错误"), ("district", "不是天津市的区")])
    b.add(1, "created", row_key="k-1", id="id-1", number="DJB-120119-2026-000001")
    b.add(2, "replayed", row_key="k-2", id="id-0", number="DJB-120119-2026-000000")
    b.add(4, "conflict", row_key="k-1", errors=[("row_key", "names filing DJB-…")])
    report = BulkReport.model_validate_json(b.to_json())
    assert report.rows == 4
    assert report.totals.model_dump() == {
        "created": 1,
        "updated": 0,
        "replayed": 1,
        "error": 1,
        "conflict": 1,
    }
    assert [r.row for r in report.results] == [1, 2, 3, 4]
    assert [r.result for r in report.results] == ["created", "replayed", "error", "conflict"]
    assert [(e.field, e.message) for e in report.results[2].errors] == [
        ("uscc", "校验码错误"),
        ("district", "不是天津市的区"),
    ]
    assert report.results[2].id is None and report.results[2].row_key is None
    # Every key is always there, so every row has one shape.
    for row in json.loads(b.to_json())["results"]:
        assert set(row) == {"row", "row_key", "result", "id", "number", "errors"}


@pytest.mark.parametrize("text", AWKWARD)
def test_any_string_round_trips(text: str) -> None:
    b = BulkReportBuilder()
    b.add(1, "error", row_key=text, errors=[(text, text)])
    b.add(2, "updated", row_key=text, id=text, number=text)
    body = json.loads(b.to_json())
    assert body["results"][0]["row_key"] == text
    assert body["results"][0]["errors"] == [{"field": text, "message": text}]
    assert body["results"][1]["id"] == body["results"][1]["number"] == text
    BulkReport.model_validate(body)


def test_many_rows_at_once_are_the_same_as_one_by_one() -> None:
    rows: list[tuple[int, BulkResult, str | None, str | None, str | None]] = [
        (1, "created", "k", "id-1", None),
        (2, "updated", 'q"', "id-2", "N-2"),
    ]
    one, many = BulkReportBuilder(), BulkReportBuilder()
    for row, result, key, id_, number in rows:
        one.add(row, result, row_key=key, id=id_, number=number)
    many.add_many(rows)
    assert one.to_json() == many.to_json()


def test_a_row_given_again_keeps_its_last_result() -> None:
    b = BulkReportBuilder()
    b.add(1, "created", id="x")
    b.add(1, "conflict", errors=[("row_key", "taken")])
    assert 1 in b and 2 not in b
    report = b.report()
    assert report.rows == 1 and report.totals.created == 0 and report.totals.conflict == 1


async def test_the_collector_is_paused_while_bulk_requests_overlap() -> None:
    import asyncio
    import gc

    from svc_common.bulk import gc_paused

    assert gc.isenabled()
    first_in, second_out = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        with gc_paused():
            first_in.set()
            await second_out.wait()
            assert not gc.isenabled()  # the other request ended, this one still runs
        assert gc.isenabled()

    async def second() -> None:
        await first_in.wait()
        with gc_paused():
            assert not gc.isenabled()
        second_out.set()

    await asyncio.gather(first(), second())
    assert gc.isenabled()
    gc.disable()  # paused by something else: left as it was
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()

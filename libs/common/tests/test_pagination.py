"""The keyset page every list builds: which rows a page keeps, the cursor it
hands out, and the rows after a cursor, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, and_, column, insert, or_, select
from svc_common import pagination
from svc_common.db import Database
from svc_common.errors import Unprocessable
from svc_common.pagination import decode_cursor, encode_cursor, keyset_after, keyset_page
from svc_common.settings import DEV_JWT_SECRET
from svc_common.types import UTCDateTime

ROWS = [{"id": f"r{i}", "n": i} for i in range(1, 6)]


def _key(row: dict[str, Any]) -> int:
    return int(row["n"])


def _item(row: dict[str, Any]) -> str:
    return str(row["id"]).upper()


@pytest.mark.parametrize("fetched", [0, 1, 2])
def test_fewer_rows_than_the_limit_are_the_last_page(fetched: int) -> None:
    page = keyset_page(ROWS[:fetched], 3, _key, _item)
    assert page.items == [f"R{i}" for i in range(1, fetched + 1)]
    assert page.next_cursor is None


def test_exactly_the_limit_is_the_last_page() -> None:
    page = keyset_page(ROWS[:3], 3, _key, _item)
    assert page.items == ["R1", "R2", "R3"]
    assert page.next_cursor is None


def test_one_row_more_than_the_limit_gives_the_last_kept_rows_key() -> None:
    page = keyset_page(ROWS[:4], 3, _key, _item)
    assert page.items == ["R1", "R2", "R3"]
    # The key of the last row kept (r3), not of the one more row (r4).
    assert page.next_cursor == encode_cursor(3)
    assert page.next_cursor[: -pagination.TAG_LENGTH] == "Mw"  # 3, then its tag
    assert decode_cursor(page.next_cursor, "int") == 3


def test_more_rows_than_one_extra_keep_the_limit() -> None:
    """A list sorted in memory (the grades) hands over all its rows."""
    page = keyset_page(ROWS, 2, _key, _item)
    assert page.items == ["R1", "R2"]
    assert page.next_cursor == encode_cursor(2)


def test_a_cursor_of_several_values_is_the_json_list_the_key_gives() -> None:
    at = dt.datetime(2026, 3, 1, 8, 30, tzinfo=dt.UTC)
    rows = [(at, "a"), (at, "b"), (at, "c")]
    page = keyset_page(rows, 2, lambda r: [r[0].isoformat(), r[1]], lambda r: r[1])
    assert page.items == ["a", "b"]
    assert page.next_cursor == encode_cursor(["2026-03-01T08:30:00+00:00", "b"])
    assert decode_cursor(page.next_cursor, "time", "str") == (at, "b")


@pytest.mark.parametrize("text", ['"\\ud800"', '["2026-03-01T08:30:00+00:00", "a\\udfff"]'])
def test_a_cursor_holding_a_lone_surrogate_is_no_cursor(text: str) -> None:
    """A forged cursor's text reached the list's query, where no database
    can hold it (UTF-8 has no lone surrogate): a 500. Refused even when
    tagged (the key's shape is checked after the tag)."""
    forged = encode_cursor(json.loads(text))
    assert forged[: -pagination.TAG_LENGTH] == base64.urlsafe_b64encode(
        text.encode()
    ).decode().rstrip("=")
    kinds = ("str",) if text.startswith('"') else ("time", "str")
    with pytest.raises(Unprocessable) as refused:
        decode_cursor(forged, *kinds)
    assert [e.field for e in refused.value.errors] == ["cursor"]


def test_the_predicate_is_the_sql_the_lists_wrote_by_hand() -> None:
    a, b = column("a"), column("b")
    assert str(keyset_after(5, a)) == str(a > 5)
    assert str(keyset_after(5, a, descending=True)) == str(a < 5)
    assert str(keyset_after((1, 2), a, b)) == str(or_(a > 1, and_(a == 1, b > 2)))
    assert str(keyset_after((1, 2), a, b, descending=True)) == str(or_(a < 1, and_(a == 1, b < 2)))
    with pytest.raises(ValueError):
        keyset_after((1,), a, b)


_META = MetaData()
_T = Table(
    "keyset_rows",
    _META,
    Column("id", String(8), primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("n", Integer, nullable=False),
)
_T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
# Ties in `at` (and in `n`) so the second column of the key decides.
_DATA = [
    {"id": f"k{i:02d}", "at": _T0 + dt.timedelta(minutes=i % 4), "n": (i * 7) % 5}
    for i in range(13)
]


async def _filled(url: str) -> Database:
    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.run_sync(_META.create_all)
        await conn.execute(insert(_T), _DATA)
    return db


def _sorted(key: tuple[str, ...], descending: bool) -> list[dict[str, Any]]:
    return sorted(_DATA, key=lambda r: tuple(r[k] for k in key), reverse=descending)


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize("key", [("id",), ("n",), ("at", "id"), ("n", "id")])
async def test_the_rows_after_each_position_on_the_database(
    db_url: str, key: tuple[str, ...], descending: bool
) -> None:
    """After every row's key: exactly the rows behind it in the order (ties of
    the first column broken by the second), read from the real database."""
    db = await _filled(db_url)
    columns = [_T.c[k] for k in key]
    order = [c.desc() for c in columns] if descending else columns
    expected = [r["id"] for r in _sorted(key, descending)]
    try:
        async with db.session() as s:
            for i, row in enumerate(_sorted(key, descending)):
                values = tuple(row[k] for k in key)
                position = values if len(values) > 1 else values[0]
                q = (
                    select(_T.c.id)
                    .where(keyset_after(position, *columns, descending=descending))
                    .order_by(*order)
                )
                got = list((await s.scalars(q)).all())
                if len(key) == 1 and key[0] == "n":
                    # A key with ties skips the ties of the position (in no
                    # set order): why every list ends its key with an id.
                    behind = [
                        r["id"]
                        for r in _DATA
                        if (r["n"] < row["n"] if descending else r["n"] > row["n"])
                    ]
                    assert sorted(got) == sorted(behind)
                else:
                    assert got == expected[i + 1 :], (key, descending, row)
    finally:
        await db.dispose()


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize("limit", [1, 4, 13, 20])
async def test_paging_through_the_cursors_reads_every_row_once(
    db_url: str, limit: int, descending: bool
) -> None:
    """decode cursor, predicate, limit + 1, page: the whole list, in order,
    and the last page has no cursor."""
    db = await _filled(db_url)
    order = [_T.c.at.desc(), _T.c.id.desc()] if descending else [_T.c.at, _T.c.id]
    seen: list[str] = []
    cursor: str | None = None
    try:
        for _ in range(len(_DATA) + 1):
            after = decode_cursor(cursor, "time", "str")
            q = select(_T)
            if after is not None:
                q = q.where(keyset_after(after, _T.c.at, _T.c.id, descending=descending))
            async with db.session() as s:
                rows = list((await s.execute(q.order_by(*order).limit(limit + 1))).all())
            page = keyset_page(rows, limit, lambda r: [r.at.isoformat(), r.id], lambda r: r.id)
            assert 0 < len(page.items) <= limit
            seen += page.items
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        else:
            pytest.fail("the cursors never reached the last page")
    finally:
        await db.dispose()
    assert seen == [r["id"] for r in _sorted(("at", "id"), descending)]


def _refused(cursor: str, *kinds: pagination.Kind) -> None:
    with pytest.raises(Unprocessable) as refused:
        decode_cursor(cursor, *kinds)
    assert [(e.field, e.type) for e in refused.value.errors] == [("cursor", "cursor_invalid")]


def test_a_cursor_not_returned_by_this_api_is_refused() -> None:
    """docs/api-contract.md: a cursor is exactly a `next_cursor` a list
    returned. An untagged one ("abc" as base64url, of the right shape), one
    edited, one cut short, or one another deployment's secret signed, is a
    422 naming `cursor`, however plausible its key."""
    good = encode_cursor(["2026-03-01T08:30:00+00:00", "b"])
    assert decode_cursor(good, "time", "str")[1] == "b"
    untagged = base64.urlsafe_b64encode(b'"abc"').decode().rstrip("=")
    _refused(untagged, "str")
    _refused(untagged + "A" * pagination.TAG_LENGTH, "str")
    other = encode_cursor(["2026-03-01T08:30:00+00:00", "c"])
    _refused(other[: -pagination.TAG_LENGTH] + good[-pagination.TAG_LENGTH :], "time", "str")
    _refused(good[:-1], "time", "str")
    _refused(good[1:], "time", "str")
    try:
        pagination.configure("another deployment's secret, 32 characters")
        _refused(good, "time", "str")
    finally:
        pagination.configure(DEV_JWT_SECRET)


def test_a_cursor_reads_on_every_replica_with_the_same_secret() -> None:
    """The key is derived from the configured secret, not made per process:
    another replica (here: the key made again) reads the cursor, and it
    stays short and URL-safe."""
    secret = "a production secret of thirty-two+ chars"
    try:
        pagination.configure(secret)
        cursor = encode_cursor(["2026-03-01T08:30:00+00:00", "b"])
        pagination.configure(secret)
        assert decode_cursor(cursor, "time", "str")[1] == "b"
    finally:
        pagination.configure(DEV_JWT_SECRET)
    assert len(cursor) < 80 and re.fullmatch(r"[A-Za-z0-9_-]+", cursor)
    assert len(encode_cursor(3)) == 2 + pagination.TAG_LENGTH

"""Cursor pagination: an opaque cursor carries the sort key of the last item
returned, so pages stay stable while rows are added (no OFFSET).

A cursor is what this API returned and nothing else. It is the sort key as
base64url JSON followed by a tag: the first 8 bytes of an HMAC-SHA256 of
the key's text (11 base64url characters), keyed by a key derived from the
service's configured `JWT_SECRET` (`configure`, called when the app is
made), so every replica of a service reads the cursors of the others, and
a restart keeps them. The tag covers the path of the request that
returned the cursor too (the list it belongs to, with its path's ids: one
plan's candidates, not another's), so a cursor reads only on that path;
filters in the query may change between pages. `decode_cursor` answers 422
naming `cursor` for a cursor whose tag does not match (forged, edited,
truncated, made under another secret, or returned by another list) and
checks the shape of a tagged one against what the list expects (an id, a
time and an id, …), so a bad cursor can never reach a query.

Every list reads the same way: decode the cursor, narrow the query to the
rows after it (`keyset_after`), order by the sort key, fetch `limit + 1`
rows, and let `keyset_page` keep `limit` of them: the one more row only
says whether there is a next page.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Generic, Literal, TypeVar, overload

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import ColumnElement, SQLColumnExpression, and_, or_

from svc_common import context
from svc_common.errors import field_error
from svc_common.guard import has_lone_surrogate
from svc_common.i18n import msg, said_as
from svc_common.settings import DEV_JWT_SECRET

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
#: Longest cursor accepted: far more than any this API writes.
MAX_CURSOR_LENGTH = 512
_MAX_INT = 2**63 - 1

Kind = Literal["int", "str", "time", "date", "date?"]

#: What a cursor refused is said as, whether its characters or its content
#: show that this API never returned it.
_NOT_A_CURSOR = ("is not a cursor this API returned", "不是本接口返回的翻页游标")
#: The `cursor` query parameter of every list: `next_cursor` of the page before.
Cursor = Annotated[
    str | None,
    Query(
        max_length=MAX_CURSOR_LENGTH,
        pattern=said_as(r"^[A-Za-z0-9_-]+$", *_NOT_A_CURSOR),
        description="`next_cursor` of the previous page, as returned (anything else is a 422)",
    ),
]
#: The `limit` query parameter of every list.
Limit = Annotated[
    int, Query(ge=1, le=MAX_LIMIT, description=f"items per page, at most {MAX_LIMIT}")
]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


#: Bytes of the HMAC kept as a cursor's tag, and the characters they take.
_TAG_BYTES = 8
TAG_LENGTH = 11


def _cursor_key(secret: str) -> bytes:
    """The key of the cursors' tags: derived from `secret`, never the secret
    itself (a tag tells nothing of the key that signs tokens)."""
    return hmac.new(secret.encode(), b"svc_common.pagination cursor v1", hashlib.sha256).digest()


_key = _cursor_key(DEV_JWT_SECRET)


def configure(secret: str) -> None:
    """Sign and check cursors with a key derived from `secret` (the service's
    `JWT_SECRET`): the same on every replica, so a cursor from one replica
    reads on another. Process-wide, as the services of the embedded default
    share one process and one secret."""
    global _key
    _key = _cursor_key(secret)


def _tag(body: str) -> str:
    """The tag of `body` on the current request's path (none outside one)."""
    path = (context.current().path or "").encode("utf-8", "surrogatepass")
    mac = hmac.new(_key, path + b"\n" + body.encode("ascii"), hashlib.sha256)
    digest = mac.digest()[:_TAG_BYTES]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def encode_cursor(value: Any) -> str:
    """The cursor of the sort key `value`: its JSON in base64url, then its tag."""
    body = base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")
    return body + _tag(body)


def _bad() -> Exception:
    return field_error(
        "cursor",
        msg(*_NOT_A_CURSOR),
        "cursor_invalid",
    )


def _raw(cursor: str) -> Any:
    if len(cursor) > MAX_CURSOR_LENGTH or len(cursor) <= TAG_LENGTH or not cursor.isascii():
        raise _bad()
    body, tag = cursor[:-TAG_LENGTH], cursor[-TAG_LENGTH:]
    if not hmac.compare_digest(tag, _tag(body)):
        raise _bad()
    try:
        padded = body + "=" * (-len(body) % 4)
        return json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error, RecursionError) as exc:
        raise _bad() from exc


def _one(value: Any, kind: Kind) -> Any:
    if kind == "int":
        if type(value) is not int or not 0 <= value <= _MAX_INT:
            raise _bad()
        return value
    if kind == "str":
        if not isinstance(value, str) or not value or len(value) > 200 or "\x00" in value:
            raise _bad()
        if has_lone_surrogate(value):  # `"\ud800"` read from JSON: no column holds it
            raise _bad()
        return value
    if kind == "date?" and value is None:
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise _bad()
    try:
        if kind == "time":
            t = dt.datetime.fromisoformat(value)
            if t.tzinfo is None:
                raise _bad()
            return t.astimezone(dt.UTC)
        return dt.date.fromisoformat(value)
    except (ValueError, OverflowError) as exc:
        raise _bad() from exc


@overload
def decode_cursor(cursor: str | None, kind: Kind) -> Any: ...


@overload
def decode_cursor(cursor: str | None, kind: Kind, *more: Kind) -> tuple[Any, ...] | None: ...


def decode_cursor(cursor: str | None, kind: Kind, *more: Kind) -> Any:
    """The sort key in `cursor`, checked against the list's `kind`s: one
    kind gives the value, several give a tuple; None when there is no cursor."""
    if not cursor:
        return None
    raw = _raw(cursor)
    if not more:
        return _one(raw, kind)
    kinds = (kind, *more)
    if not isinstance(raw, list) or len(raw) != len(kinds):
        raise _bad()
    return tuple(_one(v, k) for v, k in zip(raw, kinds, strict=True))


def decode_int_cursor(cursor: str | None) -> int | None:
    """A cursor holding an id."""
    value = decode_cursor(cursor, "int")
    return int(value) if value is not None else None


def keyset_after(
    position: Any,
    column: SQLColumnExpression[Any],
    *more: SQLColumnExpression[Any],
    descending: bool = False,
) -> ColumnElement[bool]:
    """The rows after `position` in the order of the sort key `column, *more`
    (all ascending, or all `descending`): `a > x OR (a = x AND b > y) …`.

    `position` is what `decode_cursor` gave for these columns: the value for
    one column, a tuple of as many values for several. The columns must not
    be NULL (`a > NULL` is never true): a sort key with NULLs keeps a
    predicate of its own."""
    columns = (column, *more)
    values = tuple(position) if more else (position,)
    if len(values) != len(columns):
        raise ValueError(f"a position of {len(values)} values for {len(columns)} columns")
    terms: list[ColumnElement[bool]] = []
    for i, (col, value) in enumerate(zip(columns, values, strict=True)):
        beyond = col < value if descending else col > value
        ties = [c == v for c, v in zip(columns[:i], values[:i], strict=True)]
        terms.append(and_(*ties, beyond) if ties else beyond)
    return or_(*terms) if len(terms) > 1 else terms[0]


def keyset_page(
    rows: Sequence[R], limit: int, key: Callable[[R], Any], item: Callable[[R], T]
) -> Page[T]:
    """The page of `rows` fetched in sort order (`limit + 1` of them; a list
    sorted in memory may hand over all): the first `limit` become the items
    (`item` of each) and, when there was a row more, `next_cursor` carries
    the sort key (`key`) of the last one kept, so the next page starts right
    after it. No row more, no next page: a client stops without asking for
    an empty one.

    `key` gives the cursor's JSON value (`decode_cursor` reads it back): an
    id, or a list such as `[created_at.isoformat(), id]`."""
    kept = rows[:limit]
    more = len(rows) > limit and len(kept) > 0
    return Page(
        items=[item(r) for r in kept],
        next_cursor=encode_cursor(key(kept[-1])) if more else None,
    )

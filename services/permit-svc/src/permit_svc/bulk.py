"""Bulk uploads of permit-svc (read by svc_common.uploads) and the
dialect's INSERT for upserts. Rows are validated in Python and written with
one executemany per chunk: no per-row ORM flush."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from svc_common import uploads
from svc_common.uploads import RawRow as RawRow
from svc_common.uploads import wants_spreadsheet

#: Rows per executemany; small enough to keep each statement's memory modest.
CHUNK = 2000
#: A bound on one upload, so a request cannot exhaust memory.
MAX_ROWS = 200_000


async def read_upload(request: Request, *, csv_allowed: bool = True) -> list[RawRow]:
    wants_spreadsheet(request)  # a bad `report` is refused before anything is written
    return await uploads.read_upload(request, max_rows=MAX_ROWS, csv_allowed=csv_allowed)


def chunks(items: list[Any], size: int = CHUNK) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]

"""The public register (公开登记簿): no token, no personal data. Every
journal entry and decision with its sequence number, time, district,
pollutant, kind, amount, public references, the previous entry's hash and
its own; JSON pages or the whole chain as CSV; the head to compare against."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from svc_common.db import Database
from svc_common.districts import DistrictCode
from svc_common.i18n import msg
from svc_common.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Cursor,
    decode_int_cursor,
    keyset_after,
    keyset_page,
)
from svc_common.service import get_db
from svc_common.uploads import csv_dict_writer

from quota_svc.api import OptionalPollutant, check_district, check_pollutant
from quota_svc.register import rules
from quota_svc.register.models import RegisterEntry
from quota_svc.register.service import public_fields

router = APIRouter(prefix="/quota/public", tags=["public register"])

#: Rows read per query while streaming the CSV.
_CSV_BATCH = 2000


class RegisterItem(BaseModel):
    seq: str = Field(description="The entry's number in the register: 1, 2, 3… without gaps")
    at: str
    district: str
    pollutant: str
    kind: str
    amount_t: str
    refs: str = Field(
        description="The entry's public references as its hash covers them, `key=value` "
        "pairs joined by `;` (sorted; values percent-encoded for `%`, `;` and `=`): the "
        "ledger's own identifiers (`entry`: the journal entry's reference, `pool`, "
        "`reservation`…) for auditors; the console's register page says them in words"
    )
    prev_hash: str
    hash: str


#: How an entry's hash is computed, as people read it (English, Chinese): a
#: description, not an identifier, so an answer says it in the caller's
#: language; the formula's names (sha256, prev_hash) are the same in both.
ALGORITHM = (
    "sha256(prev_hash + '\\n' + canonical JSON of the content); see docs",
    "sha256(prev_hash + '\\n' + 本条内容的规范化 JSON)；详见文档",
)


class RegisterPage(BaseModel):
    items: list[RegisterItem]
    next_cursor: str | None = None
    algorithm: str = Field(
        description="How each entry's hash is computed, in the caller's language "
        "(Accept-Language: zh-CN by default, en on request): SHA-256 of the previous "
        "entry's hash, a line feed and the entry's canonical JSON (docs/quota-svc.md)",
        examples=list(ALGORITHM),
    )


class Head(BaseModel):
    seq: int
    hash: str
    at: str | None


@router.get(
    "/register",
    response_model=RegisterPage,
    responses={
        200: {
            "description": "A page of the register: JSON, or CSV with format=csv",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
async def read_register(
    format: Literal["json", "csv"] = "json",
    district: DistrictCode | None = None,
    pollutant: OptionalPollutant = None,
    cursor: Cursor = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    db: Database = Depends(get_db),
) -> RegisterPage | StreamingResponse:
    """Public, no token. JSON is paged (`next_cursor`); CSV is the whole
    chain from the start in one download, so anyone can verify it (`bureau
    register verify`); filtered or after a cursor, an extract that says so
    in its first lines with its filter and the head it was cut at, verified
    against the full register (`bureau register verify FILE --against …`).
    `district` and `pollutant` keep a district's or a pollutant's entries
    (both: their common ones), each read by its index in sequence order."""
    if district is not None:
        check_district(district)
    if pollutant is not None:
        check_pollutant(pollutant)
    after = decode_int_cursor(cursor)
    base = select(RegisterEntry)
    if district:
        base = base.where(RegisterEntry.district == district)
    if pollutant:
        base = base.where(RegisterEntry.pollutant == pollutant)
    if format == "csv":
        extract = None
        if district or pollutant or after:
            # Not a chain to verify alone (filtered, or after a cursor: its
            # first entry's prev_hash is of one it leaves out): it says so,
            # and is cut at the head it names, against which the full
            # register verifies it.
            head = await register_head(db)
            filters = {"district": district or "", "pollutant": pollutant or ""}
            extract = rules.Extract(
                filters | {"after": str(after) if after else ""}, head.seq, head.hash
            )
        name = "quota-register-extract.csv" if extract else "quota-register.csv"
        return StreamingResponse(
            _csv(db, base, after or 0, extract),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    stmt = base.order_by(RegisterEntry.seq).limit(limit + 1)
    if after is not None:
        stmt = stmt.where(keyset_after(after, RegisterEntry.seq))
    async with db.session() as s:
        rows = list((await s.scalars(stmt)).all())
    page = keyset_page(rows, limit, lambda e: e.seq, lambda e: RegisterItem(**public_fields(e)))
    return RegisterPage(items=page.items, next_cursor=page.next_cursor, algorithm=msg(*ALGORITHM))


async def _csv(
    db: Database, base: object, after: int, extract: rules.Extract | None = None
) -> AsyncIterator[bytes]:
    from sqlalchemy import Select

    assert isinstance(base, Select)
    if extract is not None:
        base = base.where(RegisterEntry.seq <= extract.head_seq)
        yield extract.lines().encode("utf-8")
    buf = io.StringIO()
    writer = csv_dict_writer(buf, rules.CSV_FIELDS)
    writer.writeheader()
    yield buf.getvalue().encode("utf-8")
    last = after
    while True:
        async with db.session() as s:
            rows = list(
                (
                    await s.scalars(
                        base.where(RegisterEntry.seq > last)
                        .order_by(RegisterEntry.seq)
                        .limit(_CSV_BATCH)
                    )
                ).all()
            )
        if not rows:
            return
        buf.seek(0)
        buf.truncate()
        for e in rows:
            writer.writerow(public_fields(e))
        yield buf.getvalue().encode("utf-8")
        last = rows[-1].seq


@router.get("/head", response_model=Head)
async def register_head(db: Database = Depends(get_db)) -> Head:
    """The latest entry's sequence number and hash: publish or note it, and a
    later copy of the register can be checked against it."""
    async with db.session() as s:
        e = await s.scalar(select(RegisterEntry).order_by(RegisterEntry.seq.desc()).limit(1))
    if e is None:
        return Head(seq=0, hash=rules.GENESIS, at=None)
    return Head(seq=e.seq, hash=e.hash, at=rules.fmt_at(e.at))

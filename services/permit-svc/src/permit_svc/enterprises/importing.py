"""Bulk import of enterprises: validate every row in Python, then upsert by
USCC in chunks inside one transaction, with no ORM objects. A row that is
plainly valid takes a fast path of direct checks; any other row goes through
the pydantic model, which names each bad field and why. Whichever path a
row took, the upsert writes an existing enterprise only where the row keeps
its district and industry (they are not changed in place); a row that
would change them is refused, naming the field.

An optional column a row leaves out (`address`, `operating_status`: a file
with only the columns its sender means to change) keeps the stored value of
an existing enterprise; a new one gets the default. Such a row's record
holds None there (KEEP); the upsert leaves the column out of its update
list and reads the stored value back (RETURNING) for the event. A cell
present but empty is a value: an empty address is "" (a status cannot be
empty: an empty status cell is as if left out)."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import uuid
from collections.abc import AsyncIterator
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common import outbox
from svc_common.audit import record_audit
from svc_common.auth import Principal
from svc_common.bulk import BulkReportBuilder, TextRules
from svc_common.db import Database, driver_value, session_driver
from svc_common.districts import DISTRICTS
from svc_common.errors import FieldError
from svc_common.errors import validation_errors as pydantic_errors
from svc_common.events.schemas import permit as ev
from svc_common.i18n import msg
from svc_common.industries import canonical_or_none
from svc_common.uscc import valid_usccs

from permit_svc.bulk import RawRow, chunks
from permit_svc.enterprises.models import Enterprise
from permit_svc.enterprises.rules import FIXED_FIELDS, fixed_field_message
from permit_svc.enterprises.schemas import EnterpriseIn
from permit_svc.enterprises.service import industry_categories

COLUMNS = ("uscc", "name", "district", "industry_code", "category", "address", "operating_status")
#: What an upsert updates. Not the district nor the industry (FIXED_FIELDS),
#: so not the category derived from the industry either: the stored one is
#: kept in step with the classification table by its replacement.
UPDATED = ("name", "address", "operating_status")
#: The condition on which an existing enterprise is updated: the row keeps
#: its district and industry. A row that would change either is not written
#: (and is then refused, `_refused`), whatever path it took and whenever its
#: enterprise was registered, even by a request made while the import ran.
KEEPS_FIXED = " AND ".join(f"enterprises.{c} = excluded.{c}" for c in FIXED_FIELDS)
STATUSES = frozenset({"operating", "suspended", "closed"})
#: In a record, a column the row left out: kept as stored (a new enterprise
#: gets OPTIONAL's default).
KEEP = None
#: The optional columns: their place in a record, and what a new enterprise gets.
OPTIONAL = (
    ("address", COLUMNS.index("address"), EnterpriseIn.model_fields["address"].default),
    (
        "operating_status",
        COLUMNS.index("operating_status"),
        EnterpriseIn.model_fields["operating_status"].default,
    ),
)
#: The columns a row may have (EnterpriseIn's fields): any other is refused
#: by the model, so a row with one goes to it (a misspelt `adress` would
#: otherwise be dropped: the address meant to change silently kept).
FIELDS = frozenset(EnterpriseIn.model_fields)
#: The longest name and address the model takes, and that they be texts a
#: reader can see (VisibleText), as the model says them: the fast path
#: lets through only what the model would.
_TEXT = TextRules(EnterpriseIn)
#: 500 rows × 9 columns = 4,500 variables, well under SQLite's limit of 32,766.
SQLITE_ROWS_PER_STATEMENT = 500


#: A value of `_Memo.industries` never stored (compared by identity).
_UNSEEN: tuple[str, str] = ("", "")


class _Memo:
    """The verdicts of the row checks that depend on one field's value
    alone, kept for the import: its rows repeat few districts and
    industries (and an industry written without its letter is parsed once)."""

    __slots__ = ("categories", "districts", "industries", "principal")

    def __init__(self, categories: dict[str, str], principal: Principal) -> None:
        self.categories, self.principal = categories, principal
        #: stripped industry code → (the stored code, its category), or None
        self.industries: dict[str, tuple[str, str] | None] = {}
        #: stripped district → whether it is a district the principal acts in
        self.districts: dict[str, bool] = {}

    def industry(self, industry: str) -> tuple[str, str] | None:
        category = self.categories.get(industry)
        if category is None:  # not in the stored form: written without the letter?
            industry = canonical_or_none(industry) or industry
            category = self.categories.get(industry)
        return None if category is None else (industry, category)

    def district(self, district: str) -> bool:
        return district in DISTRICTS and self.principal.may_act_in(district)


def _fast_rows(datas: list[dict[str, Any] | None], memo: _Memo) -> list[tuple[Any, ...] | None]:
    """Each row as a tuple of COLUMNS if every field is plainly valid, else
    None (also for a row that could not be read or that has a column the
    model does not know): the fields row by row, the
    verdicts on districts and industries remembered (`_Memo`), then the
    USCCs' check characters all at once (`valid_usccs`). A row given None
    goes through the model (`_slow`), which says what is wrong. Held to the
    row-by-row checks it replaced by tests/test_import_fast_path.py."""
    industries, districts = memo.industries, memo.districts
    out: list[tuple[Any, ...] | None] = []
    for data in datas:
        if data is None or not data.keys() <= FIELDS:
            out.append(None)
            continue
        try:
            uscc = data["uscc"].strip()
            name = data["name"].strip()
            district = data["district"].strip()
            industry = data["industry_code"].strip()
            # Left out: KEEP; present, if null or blank, the empty address.
            address = (data["address"] or "").strip() if "address" in data else KEEP
            # No status given (left out, null or blank): KEEP.
            given = data.get("operating_status", "")
            status = KEEP if given is None or given == "" else given.strip()
        except (KeyError, AttributeError):
            out.append(None)
            continue
        known = industries.get(industry, _UNSEEN)
        if known is _UNSEEN:
            known = industries[industry] = memo.industry(industry)
        ours = districts.get(district)
        if ours is None:
            ours = districts[district] = memo.district(district)
        if (
            known is None
            or not ours
            # Too long, empty, or no one can see it: the model's to name.
            or not _TEXT.plain("name", name)
            or (address is not KEEP and not _TEXT.plain("address", address))
            or (status is not KEEP and status not in STATUSES)
        ):
            out.append(None)
            continue
        code, category = known
        out.append((uscc, name, district, code, category, address, status))
    at = [i for i, r in enumerate(out) if r is not None]
    for i, ok in zip(at, valid_usccs([out[i][0] for i in at]), strict=True):  # type: ignore[index]
        if not ok:
            out[i] = None
    return out


def _slow(
    data: dict[str, Any], categories: dict[str, str], principal: Principal
) -> tuple[Any, ...] | list[FieldError]:
    """The model's verdict, with every field error; then the checks it cannot make."""
    if data.get("operating_status", 0) in (None, ""):
        # No status given, as on the fast path: not the model's to refuse.
        data = {k: v for k, v in data.items() if k != "operating_status"}
    try:
        body = EnterpriseIn.model_validate(data)
    except ValidationError as exc:
        return pydantic_errors(exc.errors())
    errors = []
    category = categories.get(body.industry_code)
    if category is None:
        errors.append(
            FieldError(
                field="industry_code",
                message=msg("is not in the classification table", "不在分类管理名录中"),
            )
        )
    if not principal.may_act_in(body.district):
        errors.append(
            FieldError(
                field="district", message=msg("is not one of your districts", "不是您负责的区")
            )
        )
    if errors:
        return errors
    return (
        body.uscc,
        body.name,
        body.district,
        body.industry_code,
        category,
        body.address if "address" in body.model_fields_set else KEEP,
        body.operating_status if "operating_status" in body.model_fields_set else KEEP,
    )


def _shapes(
    chunk: list[tuple[Any, ...]],
) -> list[tuple[tuple[str, ...], list[tuple[Any, ...]]]]:
    """The chunk's records by the optional columns they leave out (KEEP):
    each group is one statement, whose update list leaves those columns out.
    Their places hold the default, which only a new enterprise takes. A
    file's rows all have its columns: nearly always one group, the chunk."""
    places = [i for _, i, _ in OPTIONAL]
    if KEEP not in {r[i] for i in places for r in chunk}:
        return [((), chunk)]  # a file of every column: the fast path as it was
    groups: dict[tuple[bool, ...], list[tuple[Any, ...]]] = {}
    for r in chunk:
        key = tuple(r[i] is KEEP for _, i, _ in OPTIONAL)
        groups.setdefault(key, []).append(r)
    out: list[tuple[tuple[str, ...], list[tuple[Any, ...]]]] = []
    for key, rows in groups.items():
        if not any(key):
            out.append(((), rows))
            continue
        kept = [(c, i, d) for (c, i, d), k in zip(OPTIONAL, key, strict=True) if k]
        filled = []
        for r in rows:
            values = list(r)
            for _, i, default in kept:
                values[i] = default
            filled.append(tuple(values))
        out.append((tuple(c for c, _, _ in kept), filled))
    return out


def _set_clause(kept: tuple[str, ...]) -> str:
    """What an upsert updates: UPDATED but the columns the rows left out."""
    return ", ".join(f"{c} = excluded.{c}" for c in (*UPDATED, "updated_at") if c not in kept)


def _stored(
    records: list[tuple[Any, ...]], kept: tuple[str, ...], returned: dict[str, tuple[Any, ...]]
) -> dict[str, tuple[Any, ...]]:
    """The written records with the values the rows left out as stored (as
    RETURNING gave them, `returned`: USCC → the kept columns' values)."""
    at = [COLUMNS.index(c) for c in kept]
    out = {}
    for r in records:
        values = returned.get(r[0])
        if values is None:
            continue  # not written
        row = list(r)
        for i, v in zip(at, values, strict=True):
            row[i] = v
        out[r[0]] = tuple(row)
    return out


async def _upsert_pg(
    s: AsyncSession, chunk: list[tuple[Any, ...]], now: dt.datetime
) -> tuple[set[str], set[str], dict[str, tuple[Any, ...]]]:
    """One INSERT … SELECT FROM unnest(arrays) ON CONFLICT per chunk; returns
    the USCCs inserted (xmax = 0) and all those written (the others were
    updated). An enterprise is updated only where the row keeps its district
    and industry (KEEPS_FIXED): one registered in another district or
    industry, even by a request that came in after the rows were checked, is
    not written (nor moved into an officer's district), and its row is
    refused.

    Rows that leave optional columns out (`_shapes`) are their own
    statement, which does not update those columns and returns their stored
    values: the records as written, by USCC (the third value)."""
    inserted: set[str] = set()
    written: set[str] = set()
    stored: dict[str, tuple[Any, ...]] = {}
    for kept, rows in _shapes(chunk):
        arrays = {c: [r[i] for r in rows] for i, c in enumerate(COLUMNS)}
        sql = text(
            f"INSERT INTO enterprises ({', '.join(COLUMNS)}, created_at, updated_at) "
            f"SELECT {', '.join('u.' + c for c in COLUMNS)}, CAST(:now AS timestamptz), "
            "CAST(:now AS timestamptz) FROM unnest("
            + ", ".join(f"CAST(:{c} AS text[])" for c in COLUMNS)
            + f") AS u({', '.join(COLUMNS)}) ON CONFLICT (uscc) DO UPDATE SET "
            + _set_clause(kept)
            + f" WHERE {KEEPS_FIXED} RETURNING uscc, (xmax = 0) AS inserted"
            + "".join(f", enterprises.{c}" for c in kept)
        )
        returned = {}
        for uscc, new, *values in await s.execute(sql, {**arrays, "now": now}):
            written.add(uscc)
            if new:
                inserted.add(uscc)
            if kept:
                returned[uscc] = tuple(values)
        if kept:
            stored.update(_stored(rows, kept, returned))
    return inserted, written, stored


#: SQLite gives a new row the rowid after the table's largest unless that is
#: this one; then it picks one at random (sqlite.org/autoinc.html).
_SQLITE_MAX_ROWID = 2**63 - 1


async def _upsert_sqlite(
    s: AsyncSession, chunk: list[tuple[Any, ...]], now: dt.datetime
) -> tuple[set[str], set[str], dict[str, tuple[Any, ...]]]:
    """Multi-row INSERT … ON CONFLICT statements, and which rows they
    inserted and wrote. (No other write can come in between: SQLite has one
    writer at a time, and a write after this transaction's reads fails it
    instead.) As on PostgreSQL, an existing enterprise is updated only where
    the row keeps its district and industry (KEEPS_FIXED).

    The rows inserted are those whose rowid is above the table's largest
    before the chunk: SQLite numbers a new row one past the largest, and an
    update keeps a row's rowid. So two small reads replace a lookup of the
    chunk's 2,000 USCCs: the largest rowid and the connection's count of
    rows changed (total_changes()) before, how many rows lie above it and
    that count after (all of the chunk's rows written, and all or none of
    them new: no list needed). A row not written (it would change its
    enterprise's district or industry) shows as a change missing: then the
    chunk's enterprises are read to tell which. Near the largest rowid
    SQLite may number new rows at random: then the USCCs are looked up.
    As on PostgreSQL, rows that leave optional columns out are statements
    of their own, returning the stored values (the third value).

    Sent on the aiosqlite connection, in the import's transaction, each
    statement in one hand-off to SQLite's thread: through SQLAlchemy each
    took four (cursor, execute, fetch, close) and its result objects."""
    conn = await s.connection()
    # The timestamp exactly as the driver stores it, made once for every row.
    stamp = driver_value(Enterprise.__table__.c.created_at.type, conn.dialect, now)
    driver = await session_driver(s)
    keys = [r[0] for r in chunk]
    ((top, changes_before),) = await driver.execute_fetchall(
        "SELECT max(rowid), total_changes() FROM enterprises"
    )
    top = top or 0
    existing: set[str] | None = None
    if top > _SQLITE_MAX_ROWID - len(chunk):
        found = await driver.execute_fetchall(
            f"SELECT uscc FROM enterprises WHERE uscc IN ({', '.join('?' * len(keys))})", keys
        )
        existing = {u for (u,) in found}
    row = "(" + ", ".join("?" * (len(COLUMNS) + 2)) + ")"
    stamps = (stamp, stamp)
    stored: dict[str, tuple[Any, ...]] = {}
    for kept, rows in _shapes(chunk):
        returning = " RETURNING uscc, " + ", ".join(kept) if kept else ""
        returned = {}
        for i in range(0, len(rows), SQLITE_ROWS_PER_STATEMENT):
            part = rows[i : i + SQLITE_ROWS_PER_STATEMENT]
            sql = (
                f"INSERT INTO enterprises ({', '.join(COLUMNS)}, created_at, updated_at) "
                f"VALUES {', '.join([row] * len(part))} ON CONFLICT (uscc) DO UPDATE SET "
                + _set_clause(kept)
                + f" WHERE {KEEPS_FIXED}{returning}"
            )
            params = tuple(itertools.chain.from_iterable(r + stamps for r in part))
            for uscc, *values in await driver.execute_fetchall(sql, params):
                returned[uscc] = tuple(values)
        if kept:
            stored.update(_stored(rows, kept, returned))
    ((new, changes_after),) = await driver.execute_fetchall(
        "SELECT count(*), total_changes() FROM enterprises WHERE rowid > ?", (top,)
    )
    written = set(keys)
    if changes_after - changes_before < len(keys):
        # Rows not written: their enterprises kept another district or industry.
        fixed = {r[0]: (r[2], r[3]) for r in chunk}
        found = await driver.execute_fetchall(
            "SELECT uscc, district, industry_code FROM enterprises "
            f"WHERE uscc IN ({', '.join('?' * len(keys))})",
            keys,
        )
        written -= {u for u, d, i in found if (d, i) != fixed[u]}
    if existing is not None:
        return written - existing, written, stored
    if new == len(written):
        return written, written, stored
    if new == 0:
        return set(), written, stored
    found = await driver.execute_fetchall("SELECT uscc FROM enterprises WHERE rowid > ?", (top,))
    return {u for (u,) in found}, written, stored


class _Validator:
    """Validates rows chunk by chunk, remembering USCCs across chunks so a
    repeated code is reported against its first row."""

    def __init__(self, categories: dict[str, str], principal: Principal) -> None:
        self.categories, self.principal = categories, principal
        self.memo = _Memo(categories, principal)
        self.seen: dict[str, int] = {}
        #: Refused rows: row → (the USCC as given, if a string; why).
        self.errors: dict[int, tuple[str | None, list[FieldError]]] = {}

    def chunk(self, rows: list[RawRow]) -> list[tuple[int, tuple[Any, ...]]]:
        valid = []
        seen = self.seen
        for raw, record in zip(rows, _fast_rows([r.data for r in rows], self.memo), strict=True):
            if raw.data is None:
                err = [FieldError(field=raw.field, message=raw.error or "unreadable")]
                self.errors[raw.row] = (None, err)
                continue
            if record is None:
                verdict = _slow(raw.data, self.categories, self.principal)
                if isinstance(verdict, list):
                    uscc = raw.data.get("uscc")
                    self.errors[raw.row] = (uscc if isinstance(uscc, str) else None, verdict)
                    continue
                record = verdict
            first = seen.setdefault(record[0], raw.row)
            if first != raw.row:
                err = [
                    FieldError(
                        field="uscc",
                        message=msg(
                            f"appears again (first in row {first})",
                            f"重复出现（首次在第 {first} 行）",
                        ),
                    )
                ]
                self.errors[raw.row] = (record[0], err)
                continue
            valid.append((raw.row, record))
        return valid


async def _keep_own(
    s: AsyncSession,
    principal: Principal,
    valid: list[tuple[int, tuple[Any, ...]]],
    errors: dict[int, tuple[str | None, list[FieldError]]],
) -> list[tuple[int, tuple[Any, ...]]]:
    """An officer may not update an enterprise registered in another district
    (nor move it into their own): such rows are errors."""
    keys = [r[0] for _, r in valid]
    where = await s.execute(
        select(Enterprise.uscc, Enterprise.district).where(Enterprise.uscc.in_(keys))
    )
    foreign = {u: d for u, d in where if not principal.may_act_in(d)}
    if not foreign:
        return valid
    kept = []
    for row, r in valid:
        if r[0] in foreign:
            errors[row] = (r[0], [_not_yours()])
        else:
            kept.append((row, r))
    return kept


def _not_yours() -> FieldError:
    # Not which district: the code is taken (an upsert cannot hide that),
    # but where another district's enterprise is stays that district's.
    return FieldError(
        field="uscc",
        message=msg(
            "is registered in a district not one of yours",
            "该企业登记在其他区，不在您所辖的区",
        ),
    )


async def _refused(
    s: AsyncSession,
    principal: Principal,
    valid: list[tuple[int, tuple[Any, ...]]],
    written: set[str],
    errors: dict[int, tuple[str | None, list[FieldError]]],
) -> list[tuple[int, tuple[Any, ...]]]:
    """The rows the upsert wrote; the others are errors: an enterprise
    registered in a district not the officer's (by a request that came in
    after `_keep_own` looked), or one whose district or industry the row
    would change (each named), as they would have been a moment later."""
    refused = [r[0] for _, r in valid if r[0] not in written]
    where = {
        uscc: (district, industry)
        for uscc, district, industry in await s.execute(
            select(Enterprise.uscc, Enterprise.district, Enterprise.industry_code).where(
                Enterprise.uscc.in_(refused)
            )
        )
    }
    kept = []
    for row, r in valid:
        if r[0] in written:
            kept.append((row, r))
            continue
        district, industry = where.get(r[0], (None, None))
        if district is not None and not principal.may_act_in(district):
            why = [_not_yours()]
        else:
            why = [
                FieldError(field=field, message=fixed_field_message(field, registered))
                for field, registered, given in (
                    ("district", district, r[2]),
                    ("industry_code", industry, r[3]),
                )
                if registered is not None and registered != given
            ]
        errors[row] = (r[0], why or [_unwritten()])
    return kept


def _unwritten() -> FieldError:
    """A row not written whose enterprise, read after, shows no reason:
    another request must have changed it meanwhile."""
    return FieldError(
        field="uscc",
        message=msg(
            "another request changed this enterprise meanwhile; send the row again",
            "另一请求同时修改了该企业，请重新提交此行",
        ),
    )


async def _inline(
    validator: _Validator, rows: list[RawRow]
) -> AsyncIterator[list[tuple[int, tuple[Any, ...]]]]:
    for chunk in chunks(rows):
        yield validator.chunk(chunk)


async def _pipelined(
    validator: _Validator, rows: list[RawRow]
) -> AsyncIterator[list[tuple[int, tuple[Any, ...]]]]:
    """Validate the next chunk in a worker thread while the caller writes this one."""
    pending = chunks(rows)
    task: asyncio.Future[list[tuple[int, tuple[Any, ...]]]] | None = asyncio.ensure_future(
        asyncio.to_thread(validator.chunk, pending.pop(0))
    )
    while task is not None:
        valid = await task
        task = (
            asyncio.ensure_future(asyncio.to_thread(validator.chunk, pending.pop(0)))
            if pending
            else None
        )
        yield valid


async def import_enterprises(
    db: Database, principal: Principal, rows: list[RawRow], now: dt.datetime
) -> BulkReportBuilder:
    """Upsert by USCC: valid rows land even when others fail; one transaction.
    Each row is `created` or `updated` (row_key and id: the USCC) or `error`.

    On PostgreSQL validation is pipelined with writing: the next chunk is
    validated in a worker thread while the server takes the current one."""
    report = BulkReportBuilder()
    created = written = 0
    batch = str(uuid.uuid4())
    async with db.transaction() as s:
        validator = _Validator(await industry_categories(s), principal)
        if s.get_bind().dialect.name == "postgresql":
            upsert, batches = _upsert_pg, _pipelined(validator, rows)
        else:
            # SQLite's writer thread takes and drops the GIL on every row; a
            # validating thread beside it would slow it down, not hide its cost.
            upsert, batches = _upsert_sqlite, _inline(validator, rows)
        async for valid in batches:
            if principal.districts:
                valid = await _keep_own(s, principal, valid, validator.errors)
            if not valid:
                continue
            inserted, written_now, stored = await upsert(s, [r for _, r in valid], now)
            if len(written_now) < len(valid):
                valid = await _refused(s, principal, valid, written_now, validator.errors)
                if not valid:
                    continue
            if stored:  # the event tells the values as stored, not KEEP
                valid = [(row, stored.get(r[0], r)) for row, r in valid]
            outbox.emit(s, _imported_event(batch, [r for _, r in valid], now))
            created += len(inserted)
            written += len(valid)
            report.add_many(
                (row, "created" if r[0] in inserted else "updated", r[0], r[0], None)
                for row, r in valid
            )
        for row, (uscc, errors) in validator.errors.items():
            report.error(row, errors, row_key=uscc)
        counts = {
            "received": len(rows),
            "created": created,
            "updated": written - created,
            "failed": len(rows) - written,
        }
        record_audit(
            s, principal, "enterprise.import", "enterprise_import", now.isoformat(), counts
        )
    return report


def _imported_event(
    batch: str, records: list[tuple[Any, ...]], now: dt.datetime
) -> ev.EnterprisesImported:
    """One event per written chunk, so the register is announced without a
    per-row event. The rows were validated already: constructed, not re-checked."""
    return ev.EnterprisesImported.model_construct(
        batch_id=f"{batch}:{records[0][0]}",
        updated_at=now,
        fields=list(COLUMNS),
        rows=[list(r) for r in records],
    )

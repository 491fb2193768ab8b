"""Enterprise registration, bulk import and the classification table."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import cast

from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common import outbox
from svc_common.audit import record_audit
from svc_common.auth import Principal
from svc_common.bulk import BulkReportBuilder, BulkResult
from svc_common.db import Database, DriverStatement, by_attribute, dialect_insert, hold_lock
from svc_common.errors import Conflict, FieldError, NotFound, Unprocessable, field_error
from svc_common.events.schemas import permit as ev
from svc_common.i18n import msg
from svc_common.industries import canonical_or_none, industry_code_problem
from svc_common.pagination import Page, decode_cursor, keyset_after, keyset_page
from svc_common.types import utcnow
from svc_common.uploads import table_header, table_rows

from permit_svc.enterprises.models import Enterprise, Industry
from permit_svc.enterprises.rules import CATEGORIES, IndustryClass
from permit_svc.enterprises.schemas import (
    EnterpriseChange,
    EnterpriseIn,
    EnterpriseOut,
    IndustryOut,
)
from permit_svc.missing import no_enterprise

SHIPPED_TABLE = Path(__file__).parents[1] / "data" / "industries.csv"


def parse_industry_table(text: str) -> list[IndustryClass]:
    """Parse a classification table (CSV: industry_code,name,category); 422 per bad line."""
    columns = ("industry_code", "name", "category")
    missing = set(columns) - set(table_header(text))
    if missing:
        raise Unprocessable(
            msg(
                "the table needs the columns industry_code, name, category",
                "表格需要 industry_code、name、category 三列",
            ),
            errors=[
                FieldError(field=m, message=msg("column missing", "缺少该列"))
                for m in sorted(missing)
            ],
        )
    out: dict[str, IndustryClass] = {}
    errors: list[FieldError] = []
    # Each row with the line it ends on (a quoted cell may span lines), a
    # row of more cells than the header refused (svc_common.uploads).
    for row in table_rows(text, columns):
        line = row.line
        if row.problem:
            errors.append(FieldError(field=f"line {line}.category", message=row.problem))
            if not row.cells:
                continue  # unreadable: no cells to check
        given, name, cat = (row.cells[k] for k in columns)
        code = canonical_or_none(given) or given
        if problem := industry_code_problem(given):
            errors.append(FieldError(field=f"line {line}.industry_code", message=problem))
        elif code in out:
            errors.append(
                FieldError(
                    field=f"line {line}.industry_code",
                    message=msg(f"{code} appears twice", f"{code} 重复出现"),
                )
            )
        if not name:
            errors.append(
                FieldError(field=f"line {line}.name", message=msg("must not be empty", "不得为空"))
            )
        if cat not in CATEGORIES:
            errors.append(
                FieldError(
                    field=f"line {line}.category",
                    message=msg(
                        f"one of {', '.join(CATEGORIES)}", f"应为 {'、'.join(CATEGORIES)} 之一"
                    ),
                )
            )
        if not errors:
            out[code] = IndustryClass(code, name, cat)  # type: ignore[arg-type]
    if errors:
        raise Unprocessable(
            msg(
                "the classification table has errors; nothing was changed",
                "分类管理名录有错误，未作任何修改",
            ),
            errors=errors,
        )
    if not out:
        raise Unprocessable(msg("the classification table is empty", "分类管理名录为空"))
    return list(out.values())


async def load_shipped_table_if_empty(db: Database) -> None:
    """Start-up: fill the classification table from the shipped data file."""
    async with db.transaction() as s:
        if await s.scalar(select(func.count()).select_from(Industry)):
            return
        rows = parse_industry_table(SHIPPED_TABLE.read_text("utf-8"))
        # Replicas starting together may both find the table empty: the
        # second one's rows collide and are skipped instead of failing start-up.
        stmt = dialect_insert(s, Industry.__table__).on_conflict_do_nothing()
        await s.execute(
            stmt, [{"code": r.code, "name": r.name, "category": r.category} for r in rows]
        )


async def list_industries(db: Database) -> list[IndustryOut]:
    async with db.session() as s:
        rows = (await s.scalars(select(Industry).order_by(Industry.code))).all()
    return [IndustryOut(industry_code=r.code, name=r.name, category=r.category) for r in rows]


async def hold_industry_table(s: AsyncSession) -> None:
    """Take the classification table's lock until `s`'s transaction ends:
    its replacements, and a filing about to be parked for want of a code,
    take turns (svc_common.db.hold_lock)."""
    await hold_lock(s, "permit.industries", "table")


async def replace_industries(
    db: Database, principal: Principal, table: list[IndustryClass], owed_from: dt.date | None
) -> BulkReportBuilder:
    """Replace the classification table and re-derive every enterprise's
    category; parked filings of its codes are drafted (`owed_from`: the
    app's EXECUTION_REPORTS_OWED_FROM, for their prechecks)."""
    async with db.transaction() as s:
        # Two replacements at once take turns: the second replaces the first.
        await hold_industry_table(s)
        in_use = set((await s.scalars(select(Enterprise.industry_code).distinct())).all())
        dropped = in_use - {r.code for r in table}
        if dropped:
            raise Conflict(
                msg(
                    "the new table drops industries enterprises are registered under",
                    "新名录删去了已有企业所属的行业",
                ),
                industry_codes=sorted(dropped),
            )
        before = {
            code: (name, category)
            for code, name, category in await s.execute(
                select(Industry.code, Industry.name, Industry.category)
            )
        }
        await s.execute(delete(Industry))
        await s.execute(
            insert(Industry),
            [{"code": r.code, "name": r.name, "category": r.category} for r in table],
        )
        changed = 0
        for r in table:
            res = await s.execute(
                update(Enterprise)
                .where(Enterprise.industry_code == r.code, Enterprise.category != r.category)
                .values(category=r.category)
            )
            changed += res.rowcount  # type: ignore[attr-defined]
        # Approved filings parked for want of their code are drafted now,
        # in this transaction. Imported here: drafting reads this module.
        from permit_svc.parked.service import draft_waiting

        drafted = await draft_waiting(
            s, principal, {r.code for r in table}, utcnow(), "industries.import", owed_from
        )
        record_audit(
            s,
            principal,
            "industries.import",
            "industry_table",
            "current",
            {
                "industries": len(table),
                "enterprises_recategorised": changed,
                "parked_filings_drafted": drafted,
            },
        )
    report = BulkReportBuilder()
    for row, r in enumerate(table, start=1):
        old = before.get(r.code)
        result: BulkResult = (
            "created" if old is None else "replayed" if old == (r.name, r.category) else "updated"
        )
        report.add(row, result, row_key=r.code, id=r.code)
    return report


async def industry_categories(s: AsyncSession) -> dict[str, str]:
    return dict((await s.execute(select(Industry.code, Industry.category))).all())


def to_out(e: Enterprise) -> EnterpriseOut:
    return EnterpriseOut.model_validate(e, from_attributes=True)


async def create_enterprise(
    db: Database, principal: Principal, body: EnterpriseIn, now: dt.datetime
) -> EnterpriseOut:
    principal.require_district(body.district)
    async with db.transaction() as s:
        category = (await industry_categories(s)).get(body.industry_code)
        if category is None:
            raise field_error(
                "industry_code", msg("is not in the classification table", "不在分类管理名录中")
            )
        if await s.get(Enterprise, body.uscc) is not None:
            raise Conflict(
                msg(f"enterprise {body.uscc} is already registered", f"企业 {body.uscc} 已登记"),
                uscc=body.uscc,
            )
        e = Enterprise(**body.model_dump(), category=category, created_at=now, updated_at=now)
        s.add(e)
        record_audit(s, principal, "enterprise.create", "enterprise", body.uscc, body.model_dump())
        outbox.emit(s, ev.EnterpriseRegistered(**snapshot(e)))
    return to_out(e)


def snapshot(e: Enterprise) -> dict[str, object]:
    """The fields of an enterprise event (EnterpriseSnapshot) for `e`."""
    return {
        "uscc": e.uscc,
        "name": e.name,
        "district": e.district,
        "industry_code": e.industry_code,
        "category": e.category,
        "operating_status": e.operating_status,
        "address": e.address or "",
        "updated_at": e.updated_at,
    }


async def change_enterprise(
    db: Database, principal: Principal, uscc: str, body: EnterpriseChange, now: dt.datetime
) -> EnterpriseOut:
    """Change an enterprise's name, address or operating status; a change to
    `closed` is announced as EnterpriseClosed, any other as EnterpriseUpdated."""
    changes = body.model_dump(exclude_unset=True, exclude={"reason"})
    if not changes:
        raise field_error("body", msg("names nothing to change", "未指明要修改的内容"))
    async with db.transaction() as s:
        e = (
            await s.scalars(select(Enterprise).where(Enterprise.uscc == uscc).with_for_update())
        ).one_or_none()
        e = principal.found(e, no_enterprise(uscc))
        before = {k: getattr(e, k) for k in changes}
        if before == changes:
            raise field_error(
                "body",
                msg(
                    "changes nothing: the enterprise already has these values",
                    "没有变化：企业已是这些信息",
                ),
            )
        for k, v in changes.items():
            setattr(e, k, v)
        e.updated_at = now
        record_audit(
            s,
            principal,
            "enterprise.change",
            "enterprise",
            uscc,
            {"before": before, "after": changes, "reason": body.reason},
        )
        if changes.get("operating_status") == "closed":
            outbox.emit(s, ev.EnterpriseClosed(**snapshot(e), reason=body.reason))
        else:
            outbox.emit(s, ev.EnterpriseUpdated(**snapshot(e)))
    return to_out(e)


_ENTERPRISES = cast(Table, Enterprise.__table__)
_BY_USCC = DriverStatement(select(_ENTERPRISES).where(_ENTERPRISES.c.uscc == bindparam("uscc")))


async def get_enterprise(db: Database, uscc: str) -> EnterpriseOut:
    """One enterprise, for reading: one statement, its columns read by
    attribute (no entity loaded: `by_attribute`)."""
    found = await db.fetch_alone(_BY_USCC, {"uscc": uscc})
    if not found:
        raise NotFound(no_enterprise(uscc))
    return to_out(cast(Enterprise, by_attribute(found[0])))


async def list_enterprises(
    db: Database,
    districts: list[str] | None,
    category: str | None,
    cursor: str | None,
    limit: int,
) -> Page[EnterpriseOut]:
    after = decode_cursor(cursor, "str")
    q = select(Enterprise).order_by(Enterprise.uscc).limit(limit + 1)
    if districts is not None:
        q = q.where(Enterprise.district.in_(districts))
    if category is not None:
        q = q.where(Enterprise.category == category)
    if after is not None:
        q = q.where(keyset_after(after, Enterprise.uscc))
    async with db.session() as s:
        rows = list((await s.scalars(q)).all())
    return keyset_page(rows, limit, lambda e: e.uscc, to_out)

"""Loading, replacing and reading the classification table."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.db import dialect_insert
from svc_common.errors import FieldError, Unprocessable
from svc_common.i18n import msg
from svc_common.service import Runtime

from eia_svc.classification.models import ProjectTypeRow
from eia_svc.classification.rules import ProjectType, parse_table

SHIPPED_TABLE = Path(__file__).parents[1] / "data" / "project_types.csv"


def _as_rule(row: ProjectTypeRow) -> ProjectType:
    return ProjectType(row.code, row.name, row.industry_code, row.category, row.rule)


async def replace_table(s: AsyncSession, types: list[ProjectType]) -> None:
    await s.execute(delete(ProjectTypeRow))
    await s.execute(insert(ProjectTypeRow), [t.__dict__ for t in types])


def parse_or_422(text: str) -> list[ProjectType]:
    types, errors = parse_table(text)
    if errors:
        raise Unprocessable(
            msg(
                f"the classification table has {len(errors)} error(s); nothing was imported",
                f"分类管理名录有 {len(errors)} 处错误，未导入任何内容",
            ),
            errors=[
                FieldError(field=f"line {e.line}.{e.field}", message=e.message) for e in errors
            ],
        )
    return types


async def load_shipped_table(rt: Runtime) -> None:
    """Start-up: the shipped sample table is loaded when the table is empty
    (a row an earlier copy loaded wrong was repaired by migration 0007)."""
    types = parse_or_422(SHIPPED_TABLE.read_text(encoding="utf-8"))
    async with rt.db.transaction() as s:
        if await s.scalar(select(func.count()).select_from(ProjectTypeRow)):
            return
        # Replicas starting together may both find the table empty: the second
        # one's rows clash and are skipped instead of failing its start-up.
        ins = dialect_insert(s, ProjectTypeRow).on_conflict_do_nothing()
        await s.execute(ins, [t.__dict__ for t in types])


async def all_types(s: AsyncSession) -> dict[str, ProjectType]:
    rows = (await s.execute(select(ProjectTypeRow).order_by(ProjectTypeRow.code))).scalars()
    return {r.code: _as_rule(r) for r in rows}


async def find_type(s: AsyncSession, code: str) -> ProjectType | None:
    row = await s.get(ProjectTypeRow, code)
    return _as_rule(row) if row else None

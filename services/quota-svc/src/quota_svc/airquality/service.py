"""Reading and recording air quality and the status → ratio table."""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar, cast

from sqlalchemy import (
    BindParameter,
    CompoundSelect,
    Select,
    Table,
    bindparam,
    delete,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from quota_svc.airquality.models import AirQualityRatio, AirQualityStatus

_AQ = cast(Table, AirQualityStatus.__table__)
_AQ_RATIOS = cast(Table, AirQualityRatio.__table__)


_S = TypeVar("_S", bound=Select[Any])


def narrow_to_in_force(stmt: _S, district: Any, at: Any) -> _S:
    """`stmt` (a select of the status table) narrowed to the district's
    status in force at `at`: the latest effective_from not after it, the last
    recorded on a tie."""
    return (
        stmt.where(_AQ.c.district == district, _AQ.c.effective_from <= at)
        .order_by(_AQ.c.effective_from.desc(), _AQ.c.id.desc())
        .limit(1)
    )


async def status_in_force(
    s: AsyncSession, district: str, at: dt.datetime
) -> AirQualityStatus | None:
    return await s.scalar(narrow_to_in_force(select(AirQualityStatus), district, at))


async def scheduled_statuses(
    s: AsyncSession, district: str, now: dt.datetime
) -> list[AirQualityStatus]:
    """The district's statuses not yet in force (policy.rules.is_scheduled),
    soonest first."""
    rows = await s.scalars(
        select(AirQualityStatus)
        .where(AirQualityStatus.district == district, AirQualityStatus.effective_from > now)
        .order_by(AirQualityStatus.effective_from, AirQualityStatus.id)
    )
    return list(rows)


async def replace_scheduled(
    s: AsyncSession, district: str, now: dt.datetime
) -> list[AirQualityStatus]:
    """Withdraw the statuses still scheduled: a new status replaces them (the
    same rule as the district settings, policy.service.replace_scheduled)."""
    pending = await scheduled_statuses(s, district, now)
    if pending:
        await s.execute(
            delete(AirQualityStatus).where(AirQualityStatus.id.in_([r.id for r in pending]))
        )
    return pending


async def ratio_for_status(s: AsyncSession, status: str) -> int | None:
    row = await s.get(AirQualityRatio, status)
    return row.offset_ratio_hundredths if row else None


def _ratio_in_force(district: BindParameter[Any]) -> Select[Any]:
    status = narrow_to_in_force(
        select(_AQ.c.district, _AQ.c.status), district, bindparam("at")
    ).subquery()
    return select(status.c.district, _AQ_RATIOS.c.offset_ratio_hundredths).select_from(
        status.join(_AQ_RATIOS, _AQ_RATIOS.c.status == status.c.status)
    )


#: One statement per number of districts, built once (building a union of
#: sixteen subqueries costs more CPU than running it).
_RATIOS: dict[int, Select[Any] | CompoundSelect] = {}


async def ratios_in_force(s: AsyncSession, districts: list[str], at: dt.datetime) -> dict[str, int]:
    """The ratio each district's air quality in force at `at` calls for (none
    where no status is recorded or its status has no ratio): one statement,
    one index probe per district (the latest status, not the history)."""
    if not districts:
        return {}
    stmt = _RATIOS.get(len(districts))
    if stmt is None:
        parts = [_ratio_in_force(bindparam(f"d{i}")) for i in range(len(districts))]
        stmt = _RATIOS[len(districts)] = parts[0] if len(parts) == 1 else union_all(*parts)
    params = {"at": at, **{f"d{i}": d for i, d in enumerate(districts)}}
    return {d: int(h) for d, h in (await s.execute(stmt, params)).all()}


async def ratio_table(s: AsyncSession) -> list[AirQualityRatio]:
    return list((await s.scalars(select(AirQualityRatio).order_by(AirQualityRatio.status))).all())

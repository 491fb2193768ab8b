"""Reading and recording air quality and the status → ratio table."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from quota_svc.airquality.models import AirQualityRatio, AirQualityStatus


async def status_in_force(
    s: AsyncSession, district: str, at: dt.datetime
) -> AirQualityStatus | None:
    return await s.scalar(
        select(AirQualityStatus)
        .where(AirQualityStatus.district == district, AirQualityStatus.effective_from <= at)
        .order_by(AirQualityStatus.effective_from.desc(), AirQualityStatus.id.desc())
        .limit(1)
    )


async def ratio_for_status(s: AsyncSession, status: str) -> int | None:
    row = await s.get(AirQualityRatio, status)
    return row.offset_ratio_hundredths if row else None


async def ratio_table(s: AsyncSession) -> list[AirQualityRatio]:
    return list((await s.scalars(select(AirQualityRatio).order_by(AirQualityRatio.status))).all())

"""Human-readable numbers (case numbers of complaints, inspections and
enforcement cases): one gap-free sequence per scope (kind, district, year),
bumped by INSERT … ON CONFLICT DO UPDATE … RETURNING, which keeps the counter
row locked to the end of the transaction on both databases."""

from __future__ import annotations

from sqlalchemy import Integer, String, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from supervision_svc.models import Base


class NumberCounter(Base):
    __tablename__ = "number_counters"
    scope: Mapped[str] = mapped_column(String(60), primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


_BUMP = text(
    "INSERT INTO number_counters (scope, last) VALUES (:scope, :n) "
    "ON CONFLICT (scope) DO UPDATE SET last = number_counters.last + :n RETURNING last"
)


async def next_numbers(s: AsyncSession, scope: str, n: int = 1) -> range:
    """`n` consecutive numbers of `scope`."""
    last = int((await s.execute(_BUMP, {"scope": scope, "n": n})).scalar_one())
    return range(last - n + 1, last + 1)


async def next_number(s: AsyncSession, scope: str) -> int:
    return (await next_numbers(s, scope))[0]

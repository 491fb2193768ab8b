"""Request and response bodies of the ledger API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, field_validator
from svc_common.i18n import msg
from svc_common.types import (
    AwareDateTime,
    PositiveTonnes,
    SignedTonnes,
    TotalTonnes,
    VisibleText,
    kg_to_tonnes,
)

from quota_svc.ledger.models import JournalEntry
from quota_svc.ledger.rules import POOL_PATTERN, Balance, check_pollutant
from quota_svc.pollutants.rules import POLLUTANTS

#: A request field naming a pollutant (VOCs first; the ledger is pollutant-generic).
PollutantName = Annotated[
    str,
    AfterValidator(check_pollutant),
    WithJsonSchema({"type": "string", "enum": list(POLLUTANTS), "examples": ["VOCs"]}),
]


def _aware(v: dt.datetime | None) -> dt.datetime | None:
    if v is not None and v.tzinfo is None:
        raise ValueError(
            msg(
                "must carry a time zone (e.g. 2026-01-01T00:00:00+08:00)",
                "必须带时区（例如 2026-01-01T00:00:00+08:00）",
            )
        )
    return v


class BaselineIn(BaseModel):
    """The district's baseline stock (存量基数), credited to its pool."""

    model_config = ConfigDict(extra="forbid")

    amount_t: PositiveTonnes
    effective_at: AwareDateTime | None = Field(
        None, description="default: now; never in the future"
    )
    note: Annotated[str, VisibleText(500, min_length=0)] | None = None

    _e = field_validator("effective_at")(_aware)


class TransferIn(BaseModel):
    """Move credited quota between a district's pools: the district pool, its
    priority reserve (政府储备) or a park's sub-pool (`park:<park_id>`)."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(pattern=POOL_PATTERN)
    target: str = Field(pattern=POOL_PATTERN)
    amount_t: PositiveTonnes
    note: Annotated[str, VisibleText(500, min_length=0)] | None = None


class BalanceOut(BaseModel):
    pool_id: str
    at: dt.datetime | None = None
    credited_t: TotalTonnes
    reserved_t: TotalTonnes
    allocated_t: TotalTonnes
    available_t: TotalTonnes

    @classmethod
    def of(cls, pool_id: str, b: Balance, at: dt.datetime | None = None, **extra: Any) -> Self:
        return cls(
            **extra,
            pool_id=pool_id,
            at=at,
            credited_t=kg_to_tonnes(b.credited),
            reserved_t=kg_to_tonnes(b.reserved),
            allocated_t=kg_to_tonnes(b.allocated),
            available_t=kg_to_tonnes(b.available),
        )


class DistrictBalanceOut(BalanceOut):
    """A district's balance at one moment of a history (历史余额)."""

    district: str


class EntryOut(BaseModel):
    id: int
    pool_id: str
    code: str
    amount_t: SignedTonnes
    reason: str | None
    reservation_id: str | None
    reclaim_id: str | None
    effective_at: dt.datetime
    recorded_at: dt.datetime
    credited_after_t: TotalTonnes
    reserved_after_t: TotalTonnes
    allocated_after_t: TotalTonnes
    available_after_t: TotalTonnes
    actor: str
    note: str | None

    @classmethod
    def of(cls, e: JournalEntry) -> EntryOut:
        after = Balance(e.credited_after_kg, e.reserved_after_kg, e.allocated_after_kg)
        return cls(
            id=e.id,
            pool_id=e.pool_id,
            code=e.code,
            amount_t=kg_to_tonnes(e.amount_kg),
            reason=e.reason,
            reservation_id=e.reservation_id,
            reclaim_id=e.reclaim_id,
            effective_at=e.effective_at,
            recorded_at=e.recorded_at,
            credited_after_t=kg_to_tonnes(after.credited),
            reserved_after_t=kg_to_tonnes(after.reserved),
            allocated_after_t=kg_to_tonnes(after.allocated),
            available_after_t=kg_to_tonnes(after.available),
            actor=e.actor,
            note=e.note,
        )


class ReconciliationOut(BaseModel):
    pool_id: str
    ok: bool
    entries: int
    stored: BalanceOut
    replayed: BalanceOut
    broken_entry_ids: list[int]

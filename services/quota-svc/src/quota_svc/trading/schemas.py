"""Request and response bodies of the holdings and trading API."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from svc_common.districts import DistrictCode
from svc_common.types import (
    DecimalText,
    PositiveTonnes,
    Ratio,
    RefText,
    TotalTonnes,
    VisibleText,
    kg_to_tonnes,
)
from svc_common.uscc import USCC

from quota_svc.ledger import rules
from quota_svc.ledger.schemas import PollutantName
from quota_svc.trading.models import Holding, Trade

#: A price in yuan per tonne: an exact decimal string like an amount (no
#: JSON number, no exponent), 0 to 100,000,000, to the fen. The pattern is
#: the whole rule (svc_common.types.DecimalText).
PRICE_PATTERN = r"^(100000000(\.0{1,2})?|[0-9]{1,8}(\.[0-9]{1,2})?)$"
PriceCny = Annotated[
    Decimal,
    DecimalText(
        PRICE_PATTERN,
        example="15000.00",
        description="yuan per tonne, 0 to 100,000,000, at most 2 decimals (fen)",
        description_zh="元/吨，0 至 1 亿，最多两位小数（分）",
    ),
]


class TradeCancelIn(BaseModel):
    """Why a proposed trade is withdrawn or declined (撤回)."""

    # A reason that shows nothing (spaces, zero-width characters) says nothing.
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    reason: Annotated[str, VisibleText(1000)]


class TradeIn(BaseModel):
    """A sale of emission rights (排污权交易) between two enterprises."""

    model_config = ConfigDict(extra="forbid")

    seller: USCC
    buyer: USCC
    district: DistrictCode = Field(description="the seller's district, where the rights are held")
    buyer_district: DistrictCode | None = Field(None, description="default: the same district")
    pollutant: PollutantName = rules.VOCS
    amount_t: PositiveTonnes = Field(description="quota sold, t/a")
    price_cny_per_t: PriceCny
    # Matched by its SHA-256 in the public register: " HT-1" or "HT\u200b-1"
    # reads as HT-1 and matches no one's contract.
    contract_ref: Annotated[str, RefText(100)]


class TradeOut(BaseModel):
    id: str
    seller: str
    buyer: str
    district: str
    buyer_district: str
    pollutant: str
    amount_t: TotalTonnes
    offset_ratio: Ratio | None
    seller_rights_t: TotalTonnes | None
    buyer_rights_t: TotalTonnes | None
    price_cny_per_t: Decimal
    contract_ref: str
    status: str
    refusal: str | None
    refusal_detail: str | None
    proposed_by: str
    proposed_at: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None

    @classmethod
    def of(cls, t: Trade) -> TradeOut:
        return cls(
            id=t.id,
            seller=t.seller_uscc,
            buyer=t.buyer_uscc,
            district=t.district,
            buyer_district=t.buyer_district,
            pollutant=t.pollutant,
            amount_t=kg_to_tonnes(t.amount_kg),
            offset_ratio=rules.hundredths_to_ratio(t.offset_ratio_hundredths)
            if t.offset_ratio_hundredths
            else None,
            seller_rights_t=kg_to_tonnes(t.seller_rights_kg)
            if t.seller_rights_kg is not None
            else None,
            buyer_rights_t=kg_to_tonnes(t.buyer_rights_kg)
            if t.buyer_rights_kg is not None
            else None,
            price_cny_per_t=(Decimal(t.price_fen_per_t) / 100).quantize(Decimal("0.01")),
            contract_ref=t.contract_ref,
            status=t.status,
            refusal=t.refusal,
            refusal_detail=t.refusal_detail,
            proposed_by=t.proposed_by,
            proposed_at=t.proposed_at,
            decided_by=t.decided_by,
            decided_at=t.decided_at,
        )


class HoldingOut(BaseModel):
    id: str
    uscc: str | None
    district: str
    pollutant: str
    pool_id: str
    source: str
    original_t: TotalTonnes
    amount_t: TotalTonnes
    rights_t: TotalTonnes
    offset_ratio: Ratio
    reservation_id: str | None
    trade_id: str | None
    lots: list[list[int]] | None
    acquired_at: dt.datetime
    valid_until: dt.datetime
    #: Within its five years.
    valid: bool
    #: When a confirmed reclaim of its plant retired it (收回注销), and which.
    retired_at: dt.datetime | None
    reclaim_id: str | None
    #: It may be sold: valid and not retired.
    tradable: bool

    @classmethod
    def of(cls, h: Holding, now: dt.datetime) -> HoldingOut:
        return cls(
            id=h.id,
            uscc=h.uscc,
            district=h.district,
            pollutant=h.pollutant,
            pool_id=h.pool_id,
            source=h.source,
            original_t=kg_to_tonnes(h.original_kg),
            amount_t=kg_to_tonnes(h.amount_kg),
            rights_t=kg_to_tonnes(h.rights_kg),
            offset_ratio=rules.hundredths_to_ratio(h.offset_ratio_hundredths),
            reservation_id=h.reservation_id,
            trade_id=h.trade_id,
            lots=h.lots,
            acquired_at=h.acquired_at,
            valid_until=h.valid_until,
            valid=h.valid_until > now,
            retired_at=h.retired_at,
            reclaim_id=h.reclaim_id,
            tradable=h.valid_until > now and h.retired_at is None,
        )

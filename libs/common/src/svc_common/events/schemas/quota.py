"""Events quota-svc publishes on `quota.events` (key: reservation, reclaim or pool id)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from svc_common.events.registry import EventPayload, event
from svc_common.types import Ratio, Tonnes, TotalTonnes

TOPIC = "quota.events"

ReleaseReason = Literal["rejected", "withdrawn", "expired", "manual", "remainder", "revoked"]


@event("quota.reserved.v1", topic=TOPIC, key="project_ref")
class QuotaReserved(EventPayload):
    """A project's quota need is held (a two-phase pending transfer)."""

    reservation_id: str
    project_ref: str
    uscc: str | None = None
    district: str
    pollutant: str
    pool_id: str
    increment_t: Tonnes
    offset_ratio: Ratio
    required_t: TotalTonnes
    expires_at: dt.datetime
    attempt: int = 1


@event("quota.reservation_rejected.v1", topic=TOPIC, key="project_ref")
class QuotaReservationRejected(EventPayload):
    """A reservation did not fit: the pool lacks `shortfall_t`."""

    project_ref: str
    uscc: str | None = None
    district: str
    pollutant: str
    pool_id: str
    increment_t: Tonnes
    offset_ratio: Ratio
    required_t: TotalTonnes
    available_t: TotalTonnes
    shortfall_t: TotalTonnes
    attempt: int = 1


@event("quota.allocated.v1", topic=TOPIC, key="project_ref")
class QuotaAllocated(EventPayload):
    """Held quota was allocated to an approved project (posted): `amount_t`
    of the pool, which backs `increment_t` of emission (amount ÷ ratio,
    rounded down, at most the project's increment; less than the increment
    when part of the hold was allocated)."""

    reservation_id: str
    project_ref: str
    uscc: str | None = None
    district: str
    pollutant: str
    pool_id: str
    amount_t: Tonnes
    increment_t: Tonnes
    offset_ratio: Ratio


@event("quota.released.v1", topic=TOPIC, key="project_ref")
class QuotaReleased(EventPayload):
    """A hold was released (voided), in whole or its unallocated remainder."""

    reservation_id: str
    project_ref: str
    district: str
    pollutant: str
    pool_id: str
    amount_t: Tonnes
    reason: ReleaseReason
    note: str | None = None


@event("quota.reclaim_confirmed.v1", topic=TOPIC, key="reclaim_id")
class QuotaReclaimConfirmed(EventPayload):
    """A reclaim candidate (收回) was confirmed and credited to its pool."""

    reclaim_id: str
    district: str
    pollutant: str
    pool_id: str
    amount_t: Tonnes
    source: Literal["permit_cancelled", "permit_changed", "manual", "reduction"]
    uscc: str | None = None
    permit_id: str | None = None
    source_event_id: str | None = None
    confirmed_by: str


@event("quota.balance_changed.v1", topic=TOPIC, key="pool_id")
class QuotaBalanceChanged(EventPayload):
    """A pool's balance after a journal entry."""

    pool_id: str
    district: str
    pollutant: str
    entry_code: str
    credited_t: TotalTonnes
    reserved_t: TotalTonnes
    allocated_t: TotalTonnes
    available_t: TotalTonnes


@event("quota.transfer_rejected.v1", topic=TOPIC, key="pool_id")
class QuotaTransferRejected(EventPayload):
    """A transfer between pools did not fit (e.g. a park's sub-pool could not be
    carved out of its district pool): nothing moved; the source lacks `shortfall_t`."""

    pool_id: str
    source_pool_id: str
    district: str
    pollutant: str
    amount_t: Tonnes
    available_t: TotalTonnes
    shortfall_t: TotalTonnes
    park_id: str | None = None


@event("quota.subpool_funded.v1", topic=TOPIC, key="pool_id")
class QuotaSubpoolFunded(EventPayload):
    """A park's sub-pool was carved out of its district pool in full (or
    needed nothing): the park may draw on it."""

    park_id: str
    pool_id: str
    source_pool_id: str
    district: str
    pollutant: str
    amount_t: Tonnes


@event("quota.trade.settled.v1", topic=TOPIC, key="trade_id")
class QuotaTradeSettled(EventPayload):
    """An emission-rights trade (排污权交易) was settled: `amount_t` of quota
    moved from the seller's holding to the buyer's. permit-svc amends both
    permits: the seller's permitted amount down by `seller_rights_t`, the
    buyer's up by `buyer_rights_t` (amount ÷ the buyer district's ratio)."""

    trade_id: str
    seller_uscc: str
    buyer_uscc: str
    district: str
    buyer_district: str
    pollutant: str
    amount_t: Tonnes
    seller_rights_t: Tonnes
    buyer_rights_t: Tonnes
    offset_ratio: Ratio
    contract_ref: str

"""Pure trading rules (排污权交易): what a holding's quota backs on a permit,
how long it is valid, and why a trade is refused."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from svc_common.i18n import msg
from svc_common.types import kg_to_tonnes

#: A holding is valid for five years from its allocation (a permit's term); a
#: holding bought in a trade keeps the term of what was sold (`by_term`).
VALIDITY_YEARS = 5


def valid_until(acquired: dt.datetime, years: int = VALIDITY_YEARS) -> dt.datetime:
    """The same calendar moment `years` later (29 February → 28 February)."""
    try:
        return acquired.replace(year=acquired.year + years)
    except ValueError:
        return acquired.replace(year=acquired.year + years, day=28)


def by_term(
    draws: Sequence[tuple[int, int]], terms: Sequence[dt.datetime]
) -> list[tuple[dt.datetime, list[tuple[int, int]]]]:
    """The lots a sale takes, `draws` ([(lot, kg)…]), grouped by the validity
    of the holding each came from (`terms`, one per draw), earliest first.
    A sold holding keeps the validity of what was sold (five years from its
    allocation, never renewed by a sale): the buyer gets one holding per
    term, so every kilogram keeps its own term. Neither the latest term for
    all (quota kept alive by selling it back and forth) nor the earliest
    (the rest cut short) keeps the ledger exact."""
    if len(draws) != len(terms):
        raise ValueError("one term per draw")
    groups: dict[dt.datetime, list[tuple[int, int]]] = {}
    for (lot, kg), term in zip(draws, terms, strict=True):
        groups.setdefault(term, []).append((lot, kg))
    return sorted(groups.items(), key=lambda g: g[0])


def rights_kg(quota_kg: int, ratio_h: int, cap_kg: int | None = None) -> int:
    """The emission a quantity of quota backs at an offset ratio: quota ÷
    ratio, rounded down to the kilogram (never more than `cap_kg`)."""
    rights = (quota_kg * 100) // ratio_h
    return min(rights, cap_kg) if cap_kg is not None else rights


def proportional_rights(part_kg: int, holding_amount_kg: int, holding_rights_kg: int) -> int:
    """The rights that go with selling `part_kg` of a holding: all of them
    when the whole holding is sold, else in proportion, rounded half up."""
    if part_kg >= holding_amount_kg:
        return holding_rights_kg
    return (part_kg * holding_rights_kg * 2 + holding_amount_kg) // (2 * holding_amount_kg)


def rights_shares(amounts: Sequence[int], rights_kg: int) -> list[int]:
    """`rights_kg` shared among the parts of a sale in proportion to their
    quota (`amounts`), rounded half up cumulatively, so the shares add up to
    `rights_kg` exactly."""
    total = sum(amounts)
    shares: list[int] = []
    done_kg = done_rights = 0
    for amount in amounts:
        done_kg += amount
        upto = proportional_rights(done_kg, total, rights_kg)
        shares.append(upto - done_rights)
        done_rights = upto
    return shares


def quota_for_rights(rights_kg: int, holding_amount_kg: int, holding_rights_kg: int) -> int:
    """The quota that goes with `rights_kg` of a holding's rights (the inverse
    of `proportional_rights`): all of it for all its rights, else in
    proportion, rounded half up."""
    if rights_kg >= holding_rights_kg:
        return holding_amount_kg
    return (rights_kg * holding_amount_kg * 2 + holding_rights_kg) // (2 * holding_rights_kg)


@dataclass(frozen=True)
class Retirement:
    """What a reclaim retires of one holding (收回注销): quota and rights."""

    amount_kg: int
    rights_kg: int


def retirements(holdings: list[tuple[int, int]], rights_kg: int | None) -> list[Retirement]:
    """What to retire of each holding, given as (quota, rights) oldest first,
    as a trade takes them: everything when the plant closed (`rights_kg` is
    None), else `rights_kg` of rights (a permit cut by that much). A holding
    that backs no rights is retired only with everything."""
    out: list[Retirement] = []
    left = rights_kg
    for amount, rights in holdings:
        if left is None:
            out.append(Retirement(amount, rights))
            continue
        if left <= 0 or rights <= 0:
            out.append(Retirement(0, 0))
            continue
        part_rights = min(left, rights)
        part = quota_for_rights(part_rights, amount, rights)
        # Rounding may take the whole quota: its rights go with it.
        out.append(Retirement(part, rights if part >= amount else part_rights))
        left -= part_rights
    return out


class TradeStatus(StrEnum):
    PROPOSED = "proposed"  # 待审核
    SETTLED = "settled"  # 已交割
    REFUSED = "refused"  # 不予通过
    CANCELLED = "cancelled"  # 已撤回


#: States and actions in Chinese, for a refused step's message.
LABELS_ZH = {
    "proposed": "待审核",
    "settled": "已交割",
    "refused": "不予通过",
    "cancelled": "已撤回",
    "approve": "审核通过",
    "cancel": "撤回",
}


class RefusalReason(StrEnum):
    """Why a trade is refused: the stable codes of `TradeRefused`, which the
    public register keeps (a refused trade's `reason`) and the console says
    in words, each of them."""

    SAME_ENTERPRISE = "same_enterprise"
    SELLER_HOLDS_TOO_LITTLE = "seller_holds_too_little"
    BUYER_NEED_NOT_MET = "buyer_need_not_met"
    SELLER_RECLAIM_PENDING = "seller_reclaim_pending"
    BUYER_PERMIT_CANCELLED = "buyer_permit_cancelled"


class TradeRefused(Exception):
    """A trade cannot go ahead; `reason` is a stable code, `detail` says why."""

    def __init__(self, reason: RefusalReason, detail: str, **extra: str) -> None:
        super().__init__(detail)
        self.reason: str = reason.value
        self.detail = detail
        self.extra = extra


def closure_pending(reclaim_id: str, permit_id: str | None) -> TradeRefused:
    """The seller's permit was cancelled and its reclaim is not decided yet:
    confirmed, it retires everything the seller holds here; rejected, the
    holdings may be sold again."""
    permit = permit_id or "-"
    return TradeRefused(
        RefusalReason.SELLER_RECLAIM_PENDING,
        msg(
            f"the seller's permit {permit} was cancelled and reclaim {reclaim_id} is pending: "
            "once confirmed it retires everything the seller holds here, so none of it "
            "may be sold unless the reclaim is rejected",
            f"卖方许可证 {permit} 已注销，收回 {reclaim_id} 待确认：确认后卖方在此持有的"
            "排污权全部注销，收回被驳回之前不得出售",
        ),
        reclaim_id=reclaim_id,
    )


def buyer_closing(buyer: str, reclaim_id: str, permit_id: str | None) -> TradeRefused:
    """The buyer's permit here was cancelled (its plant closed) and the
    reclaim of it is pending: rights sold to it would back no permit in
    force, and its confirmation would retire them at once."""
    permit = permit_id or "-"
    return TradeRefused(
        RefusalReason.BUYER_PERMIT_CANCELLED,
        msg(
            f"the buyer {buyer}'s permit {permit} was cancelled (reclaim {reclaim_id} is "
            "pending): it holds no permit in force here to take the rights",
            f"买方 {buyer} 的许可证 {permit} 已注销（收回 {reclaim_id} 待确认）："
            "其在此无有效许可证，不得买入排污权",
        ),
        buyer=buyer,
        reclaim_id=reclaim_id,
    )


@dataclass(frozen=True)
class Sale:
    """The checked figures of a trade."""

    amount_kg: int
    seller_rights_kg: int
    buyer_rights_kg: int
    ratio_h: int


def check_trade(
    *,
    seller: str,
    buyer: str,
    amount_kg: int,
    seller_valid_kg: int,
    seller_expired_kg: int,
    buyer_ratio_h: int,
) -> int:
    """Raise TradeRefused unless the trade can go ahead; returns the rights
    the buyer gets (amount ÷ the buyer district's ratio)."""
    if seller == buyer:
        raise TradeRefused(
            RefusalReason.SAME_ENTERPRISE,
            msg("seller and buyer are the same enterprise", "买卖双方为同一企业"),
        )
    if seller_valid_kg < amount_kg:
        extra = (
            msg(
                f" ({kg_to_tonnes(seller_expired_kg)} t more is past its five-year validity)",
                f"（另有 {kg_to_tonnes(seller_expired_kg)} 吨已过五年有效期）",
            )
            if seller_expired_kg
            else ""
        )
        raise TradeRefused(
            RefusalReason.SELLER_HOLDS_TOO_LITTLE,
            msg(
                f"the seller holds {kg_to_tonnes(seller_valid_kg)} t of valid rights here, "
                f"not {kg_to_tonnes(amount_kg)} t",
                f"卖方在此仅持有有效排污权 {kg_to_tonnes(seller_valid_kg)} 吨，"
                f"不足 {kg_to_tonnes(amount_kg)} 吨",
            )
            + extra,
            held_t=str(kg_to_tonnes(seller_valid_kg)),
        )
    buyer_rights = rights_kg(amount_kg, buyer_ratio_h)
    if buyer_rights <= 0:
        raise TradeRefused(
            RefusalReason.BUYER_NEED_NOT_MET,
            msg(
                "at the buyer district's offset ratio this amount backs no emission at all",
                "按买方所在区倍量削减替代比例，该数量不足以支撑任何排放量",
            ),
        )
    return buyer_rights

"""Pure reclaim rules: which permit events become candidates, the candidate's
life cycle and four eyes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from svc_common.auth import SYSTEM_SUB, refuse_same_person
from svc_common.errors import IllegalTransition
from svc_common.events.schemas.permit import CANCEL_REASON_WORDS
from svc_common.i18n import msg

from quota_svc.ledger.rules import VOCS, EntryCode


class ReclaimStatus(StrEnum):
    PENDING = "pending"  # 待确认
    CONFIRMED = "confirmed"  # 已确认, credited
    REJECTED = "rejected"  # 已驳回


#: States and actions in Chinese, for a refused step's message (the console's words).
LABELS_ZH = {
    "pending": "待确认",
    "confirmed": "已确认",
    "rejected": "已驳回",
    "confirm": "确认",
    "reject": "驳回",
}


class ReclaimSource(StrEnum):
    PERMIT_CANCELLED = "permit_cancelled"  # 注销 (closure, process closed)
    PERMIT_CHANGED = "permit_changed"  # 变更 with a VOCs decrease
    MANUAL = "manual"  # entered by an officer
    REDUCTION = "reduction"  # 深度治理减排, verified extra treatment


class ReclaimReason(StrEnum):
    """Why a cancelled permit's quota became a candidate: the permit's
    cancellation reason as permit-svc sent it (`CancelReason`), or
    `unknown` for a candidate made before the reason was kept whose note
    does not say it. Other sources have none (their `source` says why)."""

    CLOSURE = "closure"  # 企业关停
    PROCESS_CLOSED = "process_closed"  # 生产工序关停
    MERGED = "merged"  # 企业合并 (frees nothing: never a candidate's)
    OTHER = "other"  # 其他原因
    UNKNOWN = "unknown"  # made before the reason was kept, and the note says none


def cancel_reason(reason: str) -> ReclaimReason:
    """The candidate's reason for a permit cancelled for `reason`."""
    return ReclaimReason(reason) if reason in _REASONS else ReclaimReason.UNKNOWN


_REASONS = frozenset(m.value for m in ReclaimReason) - {ReclaimReason.UNKNOWN.value}
#: The notes this service wrote for a cancelled permit's candidate, and the
#: reason in each: `天津…（…001P）许可证注销：企业关停；…` (`events.cancel_note`),
#: and before it `天津… (…001P) cancelled: closure; …`. What follows the
#: reason is the cancellation's own note, so only what precedes it is read.
_NOTE_WORDS = {zh: reason for reason, (_, zh) in CANCEL_REASON_WORDS.items()}
_NOTES = (
    re.compile(r"（[^（）]*）许可证注销：(" + "|".join(_NOTE_WORDS) + r")(?:；|$)"),
    re.compile(r" \([^()]*\) cancelled: (" + "|".join(CANCEL_REASON_WORDS) + r")(?:; |$)"),
)


def reason_of_note(source: str | None, note: str | None) -> ReclaimReason | None:
    """The reason of a candidate kept without one (made before it was kept,
    or read from an export made then), from its note where the note is one
    this service wrote; `unknown` for a cancelled permit's candidate whose
    note is not; None for other sources, which have no reason."""
    if source != ReclaimSource.PERMIT_CANCELLED:
        return None
    for pattern in _NOTES:
        if m := pattern.search(note or ""):
            return cancel_reason(_NOTE_WORDS.get(m.group(1), m.group(1)))
    return ReclaimReason.UNKNOWN


#: Cancellation reasons whose freed amount is a reclaim candidate. A merger
#: is not: the surviving enterprise keeps the permitted amount.
RECLAIMABLE_CANCEL_REASONS = frozenset({"closure", "process_closed", "other"})

#: Candidates a person entered; their confirmer must be someone else.
FOUR_EYES_SOURCES = frozenset({ReclaimSource.MANUAL, ReclaimSource.REDUCTION})


def is_reclaimable_cancellation(reason: str, freed_kg: int) -> bool:
    return freed_kg > 0 and reason in RECLAIMABLE_CANCEL_REASONS


def reclaim_from_change(vocs_delta_kg: int) -> int:
    """The amount a change of a permit the ledger has no record of frees
    (one issued before the ledger kept `Backing`, seen only by a delta):
    only a decrease frees anything."""
    return -vocs_delta_kg if vocs_delta_kg < 0 else 0


@dataclass(frozen=True)
class Backing:
    """What the ledger knows of one pollutant on one permit: its permitted
    amount as last seen (`amount_kg`) and the reclaimable ceiling
    (`backed_kg`, 可收回上限): the part of it the district may take back.

    The ceiling is the amount as first issued or imported (the district's
    stock, or, for VOCs, drawn on allocated quota), plus increases backed by
    quota (a VOCs increase, which permit-svc draws on allocated quota; a
    trade's increase, bought quota), less what was sold (a trade's decrease)
    and what a decrease or cancellation already freed. An increase of any
    other pollutant is backed by nothing (permit-svc checks only VOCs): it
    raises the amount, not the ceiling, so a later cut frees only the backed
    tonnes it takes away (the unbacked ones go first) and a reclaim never
    credits the pool more than the plant legitimately held. Invariant:
    0 ≤ backed_kg ≤ amount_kg."""

    amount_kg: int
    backed_kg: int


def issued_backing(amount_kg: int) -> Backing:
    """A permit issued or an existing certificate imported: all of it is the
    plant's (the district's stock, or drawn on allocated quota)."""
    return Backing(amount_kg, amount_kg)


def increase_is_backed(pollutant: str, *, trade: bool) -> bool:
    """A trade's increase is bought quota; a VOCs increase is drawn on
    allocated quota (permit-svc refuses it otherwise). Nothing else backs
    an increase."""
    return trade or pollutant == VOCS


def after_change(
    known: Backing | None, before_kg: int, after_kg: int, *, pollutant: str, trade: bool
) -> tuple[Backing, int]:
    """(the backing after a permit change from `before_kg` to `after_kg`,
    the kg it frees for a reclaim candidate). A permit the ledger has no
    record of (issued before it kept one) is taken as fully backed as it
    stood. A decrease frees the backed tonnes it takes away, never more:
    the ceiling falls to the new amount if it was above it; a trade's
    decrease frees nothing (the rights went to the buyer) and takes what
    was sold off the ceiling."""
    backed = known.backed_kg if known is not None else before_kg
    backed = min(backed, before_kg)
    if after_kg >= before_kg:
        if increase_is_backed(pollutant, trade=trade):
            backed += after_kg - before_kg
        return Backing(after_kg, backed), 0
    if trade:
        return Backing(after_kg, max(0, min(after_kg, backed - (before_kg - after_kg)))), 0
    kept = min(backed, after_kg)
    return Backing(after_kg, kept), backed - kept


def freed_on_cancel(known: Backing | None, amount_kg: int) -> int:
    """What a cancelled permit frees of a pollutant: its reclaimable
    ceiling; for a permit the ledger has no record of, the amount announced."""
    if known is None:
        return amount_kg
    return min(known.backed_kg, amount_kg)


def retired_rights(source: str, amount_kg: int) -> int | None:
    """How much of the enterprise's held rights a confirmed reclaim retires
    (收回注销): all of them (None) when its permit was cancelled, the amount
    the permit gave up when it was cut, none for a candidate entered by hand
    (it may not be a plant's permit) or a verified reduction (the plant
    keeps operating and its rights)."""
    if source == ReclaimSource.PERMIT_CANCELLED:
        return None
    if source == ReclaimSource.PERMIT_CHANGED:
        return amount_kg
    return 0


def entry_code(source: str) -> EntryCode:
    if source == ReclaimSource.REDUCTION:
        return EntryCode.REDUCTION_CREDIT
    return EntryCode.RECLAIM_CREDIT


def check_decision(status: str, action: str) -> None:
    if status != ReclaimStatus.PENDING:
        raise IllegalTransition(msg("reclaim candidate", "收回候选"), status, action, [], LABELS_ZH)


def check_four_eyes(source: str, created_by: str, decided_by: str) -> None:
    """A candidate is decided by someone other than the person who gave rise
    to it: who entered it by hand, or who cancelled or cut the permit whose
    event made it. A candidate no person made (SYSTEM_SUB: a permit event sent
    before events named their actor, or a change the system made) any officer
    decides."""
    if source in FOUR_EYES_SOURCES:
        refuse_same_person(
            created_by,
            decided_by,
            en="four eyes: a manually entered candidate must be confirmed or rejected "
            "by someone other than the person who entered it",
            zh="四眼原则：人工录入的收回候选须由录入人以外的人员确认或驳回",
            reason="enterer_decides",
            created_by=created_by,
        )
    elif created_by != SYSTEM_SUB:
        refuse_same_person(
            created_by,
            decided_by,
            en="four eyes: the reclaim of what a permit's cancellation or reduction frees "
            "must be confirmed or rejected by someone other than the person who "
            "cancelled or changed the permit",
            zh="四眼原则：许可证注销或核减释放的收回候选须由注销或变更该许可证以外的人员确认或驳回",
            reason="permit_officer_decides",
            created_by=created_by,
        )

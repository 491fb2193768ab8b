"""Pure reservation rules: the state machine and how an allocation splits a hold."""

from __future__ import annotations

import unicodedata
from enum import StrEnum

from svc_common.errors import IllegalTransition
from svc_common.events.schemas.eia import FILING_REF_PREFIX
from svc_common.i18n import msg


class ReservationStatus(StrEnum):
    """held (预留): a pending transfer; allocated (分配): posted; released (释放):
    voided; expired (过期): timed out. Only `held` has a way out."""

    HELD = "held"
    ALLOCATED = "allocated"
    RELEASED = "released"
    EXPIRED = "expired"


ALLOWED: dict[ReservationStatus, tuple[str, ...]] = {
    ReservationStatus.HELD: ("allocate", "release", "expire"),
    ReservationStatus.ALLOCATED: (),
    ReservationStatus.RELEASED: (),
    ReservationStatus.EXPIRED: (),
}

#: States and actions in Chinese, for a refused step's message (预留/分配/释放).
LABELS_ZH = {
    "held": "已预留",
    "allocated": "已分配",
    "released": "已释放",
    "expired": "已过期",
    "allocate": "分配",
    "release": "释放",
    "expire": "过期",
}

LIVE = (ReservationStatus.HELD, ReservationStatus.ALLOCATED)


def check_action(status: str, action: str) -> None:
    """Raise IllegalTransition (409 naming the allowed actions) unless allowed."""
    allowed = ALLOWED[ReservationStatus(status)]
    if action not in allowed:
        raise IllegalTransition(
            msg("reservation", "预留"), status, action, list(allowed), LABELS_ZH
        )


def looks_like_filing_ref(project_ref: str) -> bool:
    """Whether a ref given by hand would read as an EIA filing's: `eia:` in
    any case, full-width (ｅｉａ：), with spaces or invisible characters
    (U+200B, U+FEFF) in or before it. Such refs are refused
    where people give refs, so no hold looks like a filing's to an operator."""
    shown = "".join(
        c
        for c in unicodedata.normalize("NFKC", project_ref)
        if not (c.isspace() or unicodedata.category(c) == "Cf")  # nothing that shows
    )
    return shown.casefold().startswith(FILING_REF_PREFIX)


def is_filing_ref(project_ref: str) -> bool:
    """Whether a project ref is an EIA filing's (环评文件的项目编号): its quota
    is held, allocated and released by the filing's saga alone."""
    return project_ref.startswith(FILING_REF_PREFIX)


class AllocationExceedsHold(Exception):
    def __init__(self, requested_kg: int, held_kg: int) -> None:
        super().__init__(f"allocating {requested_kg} kg exceeds the {held_kg} kg held")
        self.requested_kg = requested_kg
        self.held_kg = held_kg


def split_allocation(held_kg: int, requested_kg: int | None) -> tuple[int, int]:
    """(allocated, remainder released): all of the hold by default, never more."""
    amount = held_kg if requested_kg is None else requested_kg
    if amount > held_kg:
        raise AllocationExceedsHold(amount, held_kg)
    if amount < 0:
        raise ValueError("an allocation cannot be negative")
    return amount, held_kg - amount


def repeats_allocation(
    status: str, held_kg: int, allocated_kg: int, requested_kg: int | None
) -> bool:
    """Whether an allocation request asks again what an allocated reservation
    already did (a client's retry): answered with the outcome, nothing new
    posted. Any other request on an allocated reservation is refused."""
    if status != ReservationStatus.ALLOCATED:
        return False
    return allocated_kg == (held_kg if requested_kg is None else requested_kg)

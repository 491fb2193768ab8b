"""Pure policy rules: which setting is in force, and the defaults."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

MAX_HOLD_DAYS = 3650


@dataclass(frozen=True)
class Policy:
    """What governs a reservation made now: offset ratio (倍量削减替代, in
    hundredths: 200 = 2.00) and how many days a hold lasts."""

    offset_ratio_hundredths: int
    hold_days: int

    def expires_at(self, now: dt.datetime) -> dt.datetime:
        return now + dt.timedelta(days=self.hold_days)


@dataclass(frozen=True)
class Versioned:
    effective_from: dt.datetime
    policy: Policy
    #: No explicit ratio: the district's air quality decides it.
    follows_air_quality: bool = False


def latest(versions: Sequence[Versioned], at: dt.datetime) -> Versioned | None:
    """The version with the latest effective_from not after `at` (the last
    recorded wins a tie)."""
    best: Versioned | None = None
    for v in versions:
        if v.effective_from <= at and (best is None or v.effective_from >= best.effective_from):
            best = v
    return best


def in_force(versions: Sequence[Versioned], at: dt.datetime, default: Policy) -> Policy:
    """The policy of the version in force at `at`, else the default."""
    best = latest(versions, at)
    return best.policy if best else default

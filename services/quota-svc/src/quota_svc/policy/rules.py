"""Pure policy rules: which setting is in force, and the defaults."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from svc_common.i18n import msg

MAX_HOLD_DAYS = 3650

#: A setting's start this little before now is "now" as a client sent it
#: (its clock, the time the form took): it starts now, never before.
NOW_TOLERANCE = dt.timedelta(minutes=5)


def start_problem(requested: dt.datetime | None, now: dt.datetime) -> str | None:
    """Why a district setting (offset ratio, air quality) cannot start at
    `requested`, or None. A setting starts now or later: its versions are the
    history of what was in force, and a reservation made before it was
    recorded was made with the one in force then."""
    if requested is not None and requested < now - NOW_TOLERANCE:
        return msg(
            "must not be in the past: a setting takes effect now or later "
            "(the history shows what was in force)",
            "不得早于当前时间：设定自当前或将来生效（历史记录如实反映当时有效的设定）",
        )
    return None


def start_of(requested: dt.datetime | None, now: dt.datetime) -> dt.datetime:
    """When a setting asked to start at `requested` starts: now if none was
    given or it is "now" within NOW_TOLERANCE (start_problem refused earlier)."""
    return now if requested is None or requested < now else requested


def is_scheduled(effective_from: dt.datetime, now: dt.datetime) -> bool:
    """A version not yet in force. The next setting of the same district (and
    pollutant) replaces it: the administrator's latest decision is the one
    that holds, never one recorded before it that merely starts later."""
    return effective_from > now


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

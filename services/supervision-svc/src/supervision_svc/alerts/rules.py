"""Pure rules of an alert's period: when it is in force and its state,
when it may be lifted early (解除预警), and which alerts of the same
districts a new one may overlap.

One district is under one alert at a time: two alerts in force at once would
give an enterprise two contradictory orders. A level change (升级/降级) is a
new alert naming the alerts it replaces (`replaces`); they are lifted at its
start, in the same transaction, so the change is one step. An alert lifted
at its start never took effect (it is cancelled) and overlaps nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from svc_common.clock import CHINA_STANDARD_TIME
from svc_common.errors import Conflict, FieldError, Unprocessable
from svc_common.i18n import msg

from supervision_svc.grading.rules import LEVEL_ZH

#: How far ahead of the clock a lift may be dated: the caller's clock may run
#: a little ahead of the service's. Further ahead is a lift not yet decided.
LIFT_SLACK = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Period:
    """An alert as these rules see it: its id, level, districts and the
    period it is in force (`ends` is its actual end: lifted, or planned)."""

    id: str
    level: str
    districts: tuple[str, ...]
    starts: dt.datetime
    ends: dt.datetime


#: Where an alert stands against the clock (GET /supervision/alerts?state=).
State = Literal["in_force", "upcoming", "ended", "lifted"]
#: Each state's Chinese name, as `bureau alert` and the messages say it.
STATE_ZH: dict[str, str] = {
    "in_force": "生效中",
    "upcoming": "未开始",
    "ended": "已结束",
    "lifted": "已解除",
}


def in_force_at(
    starts: dt.datetime, ends: dt.datetime, lifted_at: dt.datetime | None, at: dt.datetime
) -> bool:
    """Whether an alert planned for [starts, ends) is in force at `at`: from
    its start to its actual end (when it was lifted, else its planned end).
    An alert lifted at its start (cancelled) is never in force."""
    return starts <= at < (lifted_at if lifted_at is not None else ends)


def state(
    starts: dt.datetime, ends: dt.datetime, lifted_at: dt.datetime | None, now: dt.datetime
) -> State:
    """An alert's state at `now`: in force (in_force_at); else lifted once
    its lift has taken effect (`lifted_at` passed) or if it was cancelled
    (lifted at its start, which may be ahead); else upcoming before its
    start, ended after its planned end. An alert lifted a little ahead of
    the clock (lift_time's slack) is in force, or upcoming, until then.

    The list's SQL (service.state_condition) states the same rule."""
    if in_force_at(starts, ends, lifted_at, now):
        return "in_force"
    if lifted_at is not None and (lifted_at <= now or lifted_at <= starts):
        return "lifted"
    return "upcoming" if now < starts else "ended"


def beijing(at: dt.datetime) -> str:
    """An instant as people at the bureau read it."""
    return at.astimezone(CHINA_STANDARD_TIME).strftime("%Y-%m-%d %H:%M")


def _refused(field: str, en: str, zh: str) -> Unprocessable:
    text = msg(en, zh)
    return Unprocessable(f"{field}: {text}", errors=[FieldError(field=field, message=text)])


def lift_time(
    starts: dt.datetime,
    ends: dt.datetime,
    lifted_at: dt.datetime | None,
    at: dt.datetime | None,
    now: dt.datetime,
) -> dt.datetime:
    """When an alert planned for [starts, ends) is lifted, asked to be lifted
    at `at` (None: now, or its start if it has not begun: a cancellation).

    Refused: a lifted alert (409); with no `at`, an alert already over (409);
    an `at` before its start, at or after its planned end (nothing to
    shorten), or in the future beyond `LIFT_SLACK` other than at the start
    of an alert not begun (422 naming `at`)."""
    if lifted_at is not None:
        raise Conflict(
            msg(
                f"the alert was already lifted (it ended at {beijing(lifted_at)}, Beijing time)",
                f"该预警已解除（于北京时间 {beijing(lifted_at)} 结束）",
            ),
            errors=[FieldError(field="alert_id", message=msg("already lifted", "已解除"))],
            reason="already_lifted",
            lifted_at=lifted_at.isoformat(),
        )
    if at is None:
        if now >= ends:
            raise Conflict(
                msg(
                    f"the alert already ended at its planned end {beijing(ends)} (Beijing "
                    "time): give `at` before it to record an earlier lift",
                    f"该预警已于计划结束时间北京时间 {beijing(ends)} 结束；如需登记提前解除，"
                    "请在 at 中填写此前的解除时间",
                ),
                errors=[FieldError(field="at", message=msg("the alert has ended", "预警已结束"))],
                reason="ended",
            )
        return max(now, starts)
    if at < starts:
        raise _refused(
            "at",
            f"must not be before the alert's start {beijing(starts)} (Beijing time)",
            f"不得早于预警开始时间北京时间 {beijing(starts)}",
        )
    if at >= ends:
        raise _refused(
            "at",
            f"must be before the alert's planned end {beijing(ends)} (Beijing time)",
            f"须早于预警计划结束时间北京时间 {beijing(ends)}",
        )
    if at > now + LIFT_SLACK and at != starts:
        raise _refused(
            "at",
            f"is in the future (now is {beijing(now)}, Beijing time): lift the alert when "
            "it ends, or at its start to cancel one not yet begun",
            f"不得晚于当前时间（现为北京时间 {beijing(now)}）：请在预警结束时解除，"
            "或以开始时间取消尚未开始的预警",
        )
    return at


def overlapping(
    districts: Sequence[str], starts: dt.datetime, ends: dt.datetime, others: Sequence[Period]
) -> list[Period]:
    """The alerts of any of `districts` in force at some moment of [starts, ends)."""
    return [
        o
        for o in others
        if o.starts < o.ends and o.starts < ends and starts < o.ends
        if set(o.districts) & set(districts)
    ]


def to_replace(
    districts: Sequence[str],
    starts: dt.datetime,
    ends: dt.datetime,
    others: Sequence[Period],
    replaces: Sequence[str],
) -> list[Period]:
    """The alerts a new one replaces, checked: every alert it overlaps is
    named in `replaces` (else 409 naming them), every one named is such an
    alert (else 422), and covers only districts the new one covers (else
    422: lifting it whole would leave a district without its alert)."""
    found = overlapping(districts, starts, ends, others)
    by_id = {o.id: o for o in found}
    unknown = [r for r in replaces if r not in by_id]
    if unknown:
        raise _refused(
            "replaces",
            f"{', '.join(unknown)}: not an alert in force during this alert's period in its "
            "districts",
            f"{'、'.join(unknown)}：不是本预警期间、本预警所涉区内有效的预警",
        )
    left = [o for o in found if o.id not in set(replaces)]
    if left:
        shared_set = set(districts)
        shared = sorted({d for o in left for d in o.districts} & shared_set)
        said_en = "; ".join(
            f"{o.id} ({o.level}, {', '.join(o.districts)}, {beijing(o.starts)}–{beijing(o.ends)})"
            for o in left
        )
        said_zh = "；".join(
            f"{o.id}（{LEVEL_ZH.get(o.level, o.level)}，{'、'.join(o.districts)}，"
            f"北京时间 {beijing(o.starts)} 至 {beijing(o.ends)}）"
            for o in left
        )
        raise Conflict(
            msg(
                f"districts {', '.join(shared)} are already under an alert in this period: "
                f"{said_en}; to change the level, name it in `replaces` (it is lifted at "
                "this alert's start), or lift it first",
                f"区 {'、'.join(shared)} 在此期间已有预警：{said_zh}；如需调整预警级别，"
                "请在 replaces 中列明（将于本预警开始时解除），或先解除该预警",
            ),
            errors=[
                FieldError(
                    field="districts",
                    message=msg(
                        f"already under alert {', '.join(o.id for o in left)}",
                        f"已有预警 {'、'.join(o.id for o in left)}",
                    ),
                )
            ],
            reason="overlapping_alert",
            overlapping=[
                {
                    "id": o.id,
                    "level": o.level,
                    "districts": sorted(set(o.districts) & set(districts)),
                }
                for o in left
            ],
        )
    chosen = [by_id[r] for r in dict.fromkeys(replaces)]
    for o in chosen:
        outside = sorted(set(o.districts) - set(districts))
        if outside:
            raise _refused(
                "replaces",
                f"{o.id} also covers {', '.join(outside)}: include those districts in this "
                "alert, or lift that alert and issue one per level",
                f"{o.id} 还涉及 {'、'.join(outside)}：请将这些区列入本预警，或先解除该预警"
                "再按级别分别发布",
            )
    return chosen

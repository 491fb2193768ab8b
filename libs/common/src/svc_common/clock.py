"""The one clock of the system (时钟).

Every time-dependent rule reads "now" here: statutory clocks, hold expiry,
permit expiry, sampling, deadlines, retention and idempotency ages, and every
timestamp written (`svc_common.types.utcnow` delegates to it). Production uses
the system clock. The embedded default may start with a manual clock
(`CLOCK=manual`) for demonstrations and acceptance tests, and the simulator
drives a frozen manual clock from its scheduler.

The clock is process-wide on purpose: in the embedded default and in the
simulator all services share one process and must share one notion of now.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Protocol

from svc_common.i18n import msg, said_as

#: Beijing time (北京时间), UTC+8 all year: the city's working days
#: (svc_common.calendar) and the times shown to people are read in it.
CHINA_STANDARD_TIME = dt.timezone(dt.timedelta(hours=8), "CST")


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current instant, timezone-aware, in UTC."""


class SystemClock:
    """The wall clock (production)."""

    manual = False

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


AdvanceListener = Callable[[dt.datetime], Awaitable[object]]


class ManualClock:
    """A clock moved by hand. Frozen (the simulator, tests) it stands still
    between moves; flowing (the embedded demonstration) it runs at wall speed
    from where it was last set, so retries and back-offs still elapse.
    It never moves backwards."""

    manual = True

    def __init__(self, start: dt.datetime | None = None, *, flowing: bool = False) -> None:
        start = start or dt.datetime.now(dt.UTC)
        if start.tzinfo is None:
            raise ValueError("the clock's start must be timezone-aware")
        self._at = start.astimezone(dt.UTC)
        self._mono = time.monotonic()
        self.flowing = flowing
        self._listeners: list[AdvanceListener] = []
        self._lock = asyncio.Lock()

    def now(self) -> dt.datetime:
        if self.flowing:
            return self._at + dt.timedelta(seconds=time.monotonic() - self._mono)
        return self._at

    def _set(self, at: dt.datetime) -> None:
        self._at = at
        self._mono = time.monotonic()

    def advance_now(self, delta: dt.timedelta) -> dt.datetime:
        """Move forward without running listeners (the simulator's step)."""
        if delta < dt.timedelta(0):
            raise ValueError("the clock cannot go backwards")
        self._set(self.now() + delta)
        return self._at

    def on_advance(self, listener: AdvanceListener) -> None:
        """Run `listener(now)` after every `advance`/`set_to` (sweepers)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: AdvanceListener) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    async def advance(self, delta: dt.timedelta) -> dt.datetime:
        async with self._lock:
            at = self.advance_now(delta)
            await self._notify(at)
            return at

    async def set_to(self, at: dt.datetime) -> dt.datetime:
        if at.tzinfo is None:
            raise ValueError("the time must carry its UTC offset")
        async with self._lock:
            at = at.astimezone(dt.UTC)
            if at < self.now():
                raise ValueError("the clock cannot go backwards")
            self._set(at)
            await self._notify(at)
            return at

    async def _notify(self, at: dt.datetime) -> None:
        for listener in list(self._listeners):
            await listener(at)


_clock: Clock = SystemClock()


def now() -> dt.datetime:
    """The system's now (UTC, aware)."""
    return _clock.now()


def current() -> Clock:
    return _clock


def install(clock: Clock) -> Clock:
    """Make `clock` the process's clock; returns the one it replaces."""
    global _clock
    previous, _clock = _clock, clock
    return previous


@contextlib.contextmanager
def using(clock: Clock) -> Iterator[Clock]:
    """Use `clock` for the duration of a block (tests, the simulator)."""
    previous = install(clock)
    try:
        yield clock
    finally:
        install(previous)


def manual() -> ManualClock | None:
    """The installed clock if it is manual, else None."""
    return _clock if isinstance(_clock, ManualClock) else None


_DURATION = re.compile(
    r"^P(?!$)(?:(?P<w>[0-9]+)W)?(?:(?P<d>[0-9]+)D)?"
    r"(?:T(?=[0-9])(?:(?P<h>[0-9]+)H)?(?:(?P<m>[0-9]+)M)?(?:(?P<s>[0-9]+)S)?)?$"
)


#: Digits are [0-9], not `\d`: Python's (and the Rust regex pydantic checks
#: a pattern with) reads any Unicode digit, so `P１D` was one day, where a
#: document's `\d` (ECMA-262) is 0-9 alone.
#: The durations the API takes, as its documents state them: weeks, days,
#: hours, minutes, seconds with few enough digits that any of them stays
#: under parse_duration's ten-year bound (no look-arounds: every regex engine
#: that reads the document must take it).
_T = r"T(?:[0-9]{1,4}H(?:[0-9]{1,5}M)?(?:[0-9]{1,7}S)?|[0-9]{1,5}M(?:[0-9]{1,7}S)?|[0-9]{1,7}S)"
#: What a duration refused is said as (by parse_duration, and in words
#: instead of DURATION_PATTERN when a parameter does not match it).
_NOT_A_DURATION = (
    "must be an ISO 8601 duration such as P61D or PT5M (weeks, days, hours, "
    "minutes, seconds; no years or months)",
    "必须是 ISO 8601 时长，如 P61D 或 PT5M（周、日、时、分、秒；不接受年和月）",
)
DURATION_PATTERN = said_as(
    rf"^P(?:[0-9]{{1,2}}W(?:[0-9]{{1,3}}D)?(?:{_T})?|[0-9]{{1,3}}D(?:{_T})?|{_T})$",
    *_NOT_A_DURATION,
)


def parse_duration(text: str) -> dt.timedelta:
    """An ISO 8601 duration of weeks, days, hours, minutes and seconds
    (`P61D`, `PT5M`, `P1DT12H`). Years and months are refused: their length
    depends on the date, which a statutory clock must not leave implicit."""
    m = _DURATION.match(text.strip()) if len(text) <= 40 else None
    if not m:
        raise ValueError(msg(*_NOT_A_DURATION))
    parts = {k: int(v) for k, v in m.groupdict().items() if v}
    delta = dt.timedelta(
        weeks=parts.get("w", 0),
        days=parts.get("d", 0),
        hours=parts.get("h", 0),
        minutes=parts.get("m", 0),
        seconds=parts.get("s", 0),
    )
    if delta > dt.timedelta(days=3660):
        raise ValueError(msg("must not exceed ten years", "不得超过十年"))
    return delta

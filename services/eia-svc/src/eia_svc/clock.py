"""The service's notion of "now", injectable so statutory clocks can be tested:
`runtime.extras["clock"]` may hold a zero-argument callable returning an aware
UTC datetime; otherwise the wall clock is used."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from fastapi import Request
from svc_common.service import get_runtime
from svc_common.types import utcnow

Clock = Callable[[], dt.datetime]


async def get_clock(request: Request) -> Clock:
    clock: Clock = get_runtime(request).extras.get("clock", utcnow)
    return clock

"""quota-svc's pollutant list as one console process keeps it
(console.pollutants.PollutantList), with quota-svc answered by a fake."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any, cast

from console.api import Services
from console.pollutants import PollutantList
from svc_common import clock

LISTED = [{"code": "VOCs", "name_zh": "挥发性有机物", "name_en": "volatile organic compounds"}]


class SlowQuota:
    """quota-svc answering its list once let go."""

    def __init__(self) -> None:
        self.reads = 0
        self.go = asyncio.Event()

    async def get(self, service: str, path: str, **_: Any) -> Any:
        assert (service, path) == ("quota", "/quota/pollutants")
        self.reads += 1
        await self.go.wait()
        return LISTED


async def test_pages_asking_while_the_list_is_read_wait_for_that_one_read() -> None:
    """Pages arriving together when no list is kept make one read, not one
    each; each gets its own copy (a page adds the pollutant it was asked
    for to its list)."""
    quota = SlowQuota()
    listing = PollutantList(dt.timedelta(seconds=60), dt.timedelta(minutes=10))
    api = cast(Services, quota)
    with clock.using(clock.ManualClock(dt.datetime(2026, 12, 4, 2, 0, tzinfo=dt.UTC))):
        pages = [asyncio.create_task(listing.read(api)) for _ in range(3)]
        await asyncio.sleep(0)
        quota.go.set()
        first, *others = await asyncio.gather(*pages)
    assert quota.reads == 1
    assert [p.code for p in first] == ["VOCs"] and all(o == first for o in others)
    first.append(first[0])
    assert all(len(o) == 1 for o in others)

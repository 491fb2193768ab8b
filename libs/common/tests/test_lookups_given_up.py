"""Lookups whose caller's wait ran out are not sent (`_Together._drain`).

With the database slow, each statement of lookups takes up to the wait
bound; a lookup whose caller already got its 503 was still sent in the
next one, so fresh callers queued behind rows nobody would read, and kept
timing out for a while after the database came back."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from svc_common.batching import _Together


class _Recorded(_Together[str, str]):
    def __init__(self, delay: float) -> None:
        # A stand-in of the one thing _Together asks of its database.
        super().__init__(db=SimpleNamespace(on_asyncpg=True), max_items=64)  # type: ignore[arg-type]
        self.delay = delay
        self.sent: list[list[str]] = []

    async def _send(self, batch: list[tuple[str, asyncio.Future[str]]]) -> None:
        self.sent.append([item for item, _ in batch])
        await asyncio.sleep(self.delay)
        for item, future in batch:
            if not future.done():
                future.set_result(item)


async def test_a_lookup_given_up_is_not_sent() -> None:
    slow = _Recorded(delay=0.3)
    first = asyncio.create_task(slow._submit("first"))
    await asyncio.sleep(0.02)  # the worker sends "first" and waits on the database
    with pytest.raises(TimeoutError):
        await slow._submit("given-up", within=0.05)
    fresh: Any = asyncio.create_task(slow._submit("fresh", within=5))
    assert await first == "first"
    assert await fresh == "fresh"
    assert slow.sent == [["first"], ["fresh"]]


async def test_a_cancelled_callers_row_is_still_sent() -> None:
    """An insert of an answer whose request went is kept for the retry."""
    slow = _Recorded(delay=0.1)
    first = asyncio.create_task(slow._submit("first"))
    await asyncio.sleep(0.02)
    gone = asyncio.create_task(slow._submit("gone"))
    await asyncio.sleep(0)
    gone.cancel()
    assert await first == "first"
    await asyncio.sleep(0.15)
    assert slow.sent == [["first"], ["gone"]]

"""Group commit on the driver (svc_common.batching): when a batch's callers
are answered, and how many operations a batch takes.

A batch committed while the key's next operations are queued is answered
as the next batch sends its writes, after its operations ran (应答延后):
not before them, not after its commit, and never lost, whatever becomes of
the next batch. A key whose callers move together is halved, so two halves
alternate."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common import batching
from svc_common.batching import GroupCommit, batch_memo
from svc_common.db import Database
from svc_common.errors import Unavailable

pytestmark = pytest.mark.pg


@pytest.fixture
async def db(pg_url: str) -> AsyncIterator[Database]:
    database = Database(pg_url)
    try:
        yield database
    finally:  # a failed test's worker stopped with it
        await database.dispose()


class Refused(Exception):
    pass


def _op(label: str, log: list[str], before: Callable[[], Awaitable[None]] | None = None):  # type: ignore[no-untyped-def]
    """An operation that logs `ran <label>` and returns how many operations
    its batch has run so far, itself included (0 alone: no memo)."""

    async def op(s: AsyncSession) -> int:
        if before is not None:
            await before()
        log.append(f"ran {label}")
        memo = batch_memo(s)
        if memo is None:
            return 0
        memo["ran"] = memo.get("ran", 0) + 1
        return int(memo["ran"])

    return op


async def _caller(batches: GroupCommit, label: str, log: list[str], **kw: Any) -> Any:
    """`label`'s operation through `batches`; logs `answered <label>`."""
    before = kw.pop("before", None)
    try:
        return await batches.run("pool", _op(label, log, before), **kw)
    finally:
        log.append(f"answered {label}")


async def _two_batches(
    batches: GroupCommit, log: list[str], second: dict[str, Callable[[], Awaitable[None]] | None]
) -> tuple[list[asyncio.Task[Any]], list[asyncio.Task[Any]]]:
    """A batch of a1, a2 (kind 1) with the operations `second` (kind 0)
    queued while a1 runs: a kind before a batch's first one waits for the
    next batch (see `GroupCommit._late`), so they are queued at a's commit."""
    started, gate = asyncio.Event(), asyncio.Event()

    async def held() -> None:
        started.set()
        await gate.wait()

    first = [
        asyncio.create_task(_caller(batches, "a1", log, kind=1, before=held)),
        asyncio.create_task(_caller(batches, "a2", log, kind=1)),
    ]
    await asyncio.wait_for(started.wait(), 15)
    then = [
        asyncio.create_task(_caller(batches, label, log, kind=0, before=before))
        for label, before in second.items()
    ]
    await asyncio.sleep(0)  # each queues
    gate.set()
    return first, then


async def test_a_batch_is_answered_after_the_next_batch_s_operations_ran(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batching, "ANSWER_WITHIN", 30.0)  # not the bound's doing
    batches = GroupCommit(db, max_batch=16, on_driver=True)
    log: list[str] = []
    # b1 lets the loop turn: answered at a's commit, a's callers would log then.
    first, then = await _two_batches(batches, log, {"b1": lambda: asyncio.sleep(0), "b2": None})
    assert await asyncio.wait_for(asyncio.gather(*first), 15) == [1, 2]
    assert await asyncio.wait_for(asyncio.gather(*then), 15) == [1, 2]
    assert batches.batches == 2 and batches.operations == 4
    assert log.index("answered a1") > log.index("ran b2"), log
    assert log.index("answered a2") > log.index("ran b2"), log


async def test_a_batch_waits_for_its_answers_at_most_answer_within(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The next batch's first operation waits (for another replica's lock,
    say) until the first batch is answered: only the bound answers it."""
    monkeypatch.setattr(batching, "ANSWER_WITHIN", 0.01)
    batches = GroupCommit(db, max_batch=16, on_driver=True)
    log: list[str] = []

    waiting: list[asyncio.Task[Any]] = []

    async def until_a_answered() -> None:
        await asyncio.gather(*waiting)

    first, then = await _two_batches(batches, log, {"b1": until_a_answered, "b2": None})
    waiting += first  # before b1 runs: nothing yielded since a's gate opened
    assert await asyncio.wait_for(asyncio.gather(*first), 15) == [1, 2]
    assert await asyncio.wait_for(asyncio.gather(*then), 15) == [1, 2]
    assert log.index("answered a2") < log.index("ran b1"), log


async def test_a_batch_is_answered_with_its_own_results_when_the_next_one_is_refused(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batching, "ANSWER_WITHIN", 30.0)
    batches = GroupCommit(db, max_batch=16, on_driver=True)
    log: list[str] = []

    async def refuse() -> None:
        raise Refused("b1")

    first, then = await _two_batches(batches, log, {"b1": refuse, "b2": None})
    assert await asyncio.wait_for(asyncio.gather(*first), 15) == [1, 2]
    refused = await asyncio.wait_for(asyncio.gather(*then, return_exceptions=True), 15)
    assert isinstance(refused[0], Refused) and refused[1] == 0  # undone; b2 then alone


async def test_a_batch_is_answered_with_its_own_results_when_the_worker_stops(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker cancelled (the server stopping) while the next batch
    runs: the committed batch's callers get their results, the next one's
    a 503 (retried, answered by their Idempotency-Key)."""
    monkeypatch.setattr(batching, "ANSWER_WITHIN", 30.0)
    batches = GroupCommit(db, max_batch=16, on_driver=True)
    log: list[str] = []
    stuck = asyncio.Event()

    async def stay() -> None:
        stuck.set()
        await asyncio.Event().wait()

    first, then = await _two_batches(batches, log, {"b1": stay, "b2": None})
    await asyncio.wait_for(stuck.wait(), 15)
    assert not any(t.done() for t in first)  # a committed, not yet answered
    batches._workers["pool"].cancel()
    assert await asyncio.wait_for(asyncio.gather(*first), 15) == [1, 2]
    stopped = await asyncio.wait_for(asyncio.gather(*then, return_exceptions=True), 15)
    assert all(isinstance(r, Unavailable) for r in stopped), stopped


async def test_callers_moving_together_are_halved_into_two_batches_that_alternate(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """16 operations at once, nothing behind them: one batch, answered at
    once. The next 16 at once go as two batches of 8, the first answered
    as the second sends its writes."""
    monkeypatch.setattr(batching, "ANSWER_WITHIN", 30.0)
    batches = GroupCommit(db, max_batch=64, on_driver=True)
    log: list[str] = []

    def wave(name: str) -> Awaitable[list[Any]]:
        return asyncio.gather(*(_caller(batches, f"{name}{i}", log) for i in range(16)))

    assert max(await asyncio.wait_for(wave("x"), 15)) == 16
    halves = await asyncio.wait_for(wave("y"), 15)
    assert halves == list(range(1, 9)) * 2, halves
    assert log.index("answered y0") > log.index("ran y15"), log
    # Small batches are not halved: a wave of SPLIT_AT - 1, answered at once.
    small = [_caller(batches, f"z{i}", log) for i in range(batching.SPLIT_AT - 1)]
    await asyncio.wait_for(asyncio.gather(*small), 15)
    again = await asyncio.wait_for(
        asyncio.gather(*(_caller(batches, f"w{i}", log) for i in range(batching.SPLIT_AT - 1))),
        15,
    )
    assert max(again) == batching.SPLIT_AT - 1

"""`run_in_context`: a batch's operation stepped inside the batch's task, in
its caller's context, as a task of its own would run it, but without the
loop turns a task costs (svc_common.batching)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import sys
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from svc_common.batching import GroupCommit, run_in_context
from svc_common.db import Database, NeedsSession

LANGUAGE: contextvars.ContextVar[str] = contextvars.ContextVar("language", default="zh-CN")


class Turns:
    """Counts the loop's turns while it runs: a task that is always ready."""

    def __init__(self) -> None:
        self.count = 0
        self._task = asyncio.create_task(self._tick())

    async def _tick(self) -> None:
        while True:
            self.count += 1
            await asyncio.sleep(0)

    async def stop(self) -> None:
        self._task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self._task


async def _from_memo(i: int) -> int:
    """An operation that reads all it needs from its batch's memo."""
    return i * 2


async def test_operations_that_do_not_wait_cost_no_turn_of_the_loop() -> None:
    turns = Turns()
    await asyncio.sleep(0)  # the ticker has started
    before = turns.count
    results = [await run_in_context(contextvars.copy_context(), _from_memo(i)) for i in range(20)]
    during = turns.count - before
    await turns.stop()
    assert results == [i * 2 for i in range(20)]
    # As tasks, each would have cost two turns (start, then wake the batch).
    assert during == 0


async def test_an_operation_that_waits_gets_what_it_waited_for_or_its_error() -> None:
    loop = asyncio.get_running_loop()

    async def op() -> tuple[int, str]:
        ok: asyncio.Future[int] = loop.create_future()
        loop.call_soon(ok.set_result, 5)
        bad: asyncio.Future[int] = loop.create_future()
        loop.call_soon(bad.set_exception, LookupError("no such row"))
        got = await ok
        try:
            await bad
        except LookupError as exc:
            error = str(exc)
        await asyncio.sleep(0)  # a bare yield
        await asyncio.sleep(0.001)
        return got, error

    assert await run_in_context(contextvars.copy_context(), op()) == (5, "no such row")


async def test_an_operation_raising_reaches_the_batch() -> None:
    async def op() -> None:
        await asyncio.sleep(0.001)
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        await run_in_context(contextvars.copy_context(), op())


async def test_each_operation_runs_in_its_caller_s_context() -> None:
    LANGUAGE.set("en")
    caller = contextvars.copy_context()  # a request in English
    LANGUAGE.set("zh-CN")  # the batch's own context

    async def op() -> tuple[str, str]:
        seen = LANGUAGE.get()
        await asyncio.sleep(0.001)
        LANGUAGE.set("fr")
        await asyncio.sleep(0)
        return seen, LANGUAGE.get()

    assert await run_in_context(caller, op()) == ("en", "fr")
    assert LANGUAGE.get() == "zh-CN"  # what the operation set stayed in its context
    assert caller[LANGUAGE] == "fr"


async def test_a_batch_cancelled_while_its_operation_waits_cancels_the_operation() -> None:
    loop = asyncio.get_running_loop()
    seen: list[str] = []
    waiting: asyncio.Future[None] = loop.create_future()

    async def op() -> None:
        try:
            await waiting
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        finally:
            seen.append("cleaned up")

    batch = asyncio.create_task(run_in_context(contextvars.copy_context(), op()))
    await asyncio.sleep(0.001)
    batch.cancel()
    with pytest.raises(asyncio.CancelledError):
        await batch
    assert seen == ["cancelled", "cleaned up"]
    assert waiting.cancelled()


async def test_a_cancel_that_comes_after_the_wait_ended_still_reaches_the_operation() -> None:
    """The future is done but the batch's task has not run again yet when
    it is cancelled: the cancel is thrown into the operation."""
    loop = asyncio.get_running_loop()
    seen: list[str] = []
    waiting: asyncio.Future[int] = loop.create_future()

    async def op() -> None:
        try:
            await waiting
            seen.append("went on")
            await asyncio.sleep(1)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    batch = asyncio.create_task(run_in_context(contextvars.copy_context(), op()))
    await asyncio.sleep(0.001)
    waiting.set_result(1)
    batch.cancel()  # before the batch's task wakes up
    with pytest.raises(asyncio.CancelledError):
        await batch
    assert seen == ["cancelled"]


async def test_a_timeout_inside_an_operation_stays_inside_it() -> None:
    """asyncio.timeout cancels the current task (the batch's): the operation
    sees TimeoutError and the batch goes on, not cancelled."""

    async def op() -> str:
        try:
            async with asyncio.timeout(0.005):
                await asyncio.sleep(5)
        except TimeoutError:
            return "timed out"
        return "finished"

    async def batch() -> list[str]:
        first = await run_in_context(contextvars.copy_context(), op())
        await asyncio.sleep(0.001)  # not cancelled afterwards
        return [first, await run_in_context(contextvars.copy_context(), _from_memo_text())]

    assert await asyncio.create_task(batch()) == ["timed out", "next"]


async def _from_memo_text() -> str:
    return "next"


async def test_an_operation_closed_with_its_batch_is_closed_not_resumed() -> None:
    """A batch's coroutine closed while its operation waits (its task
    destroyed unfinished): the operation is closed too, as a task's would
    be, not resumed with its future still pending."""
    seen: list[str] = []

    async def op() -> None:
        try:
            await asyncio.get_running_loop().create_future()
        except BaseException as exc:
            seen.append(type(exc).__name__)
            raise

    batch = run_in_context(contextvars.copy_context(), op())
    batch.send(None)
    batch.close()
    assert seen == ["GeneratorExit"]


class _Session:
    def __init__(self) -> None:
        self.info: dict[Any, Any] = {}


class _Database:
    """What GroupCommit needs of a PostgreSQL database, without one."""

    is_postgres = True
    on_asyncpg = False
    #: The longest a caller waits for its turn.
    answer_within = 15.0

    def leave_unit(self) -> None: ...

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Session]:
        yield _Session()


async def test_an_operation_run_again_alone_does_not_see_another_s_refusal() -> None:
    """After a refusal undid a batch, each operation runs again alone, as
    without batching: what it raises does not chain to the refusal of
    another caller's operation, and sys.exc_info() inside it is empty."""

    class Refused(Exception):
        pass

    async def refused(s: Any) -> None:
        raise Refused("operation 1: another caller's")

    async def looks(s: Any) -> str:
        await asyncio.sleep(0)
        handled = sys.exc_info()[1]
        if handled is not None:
            return f"handling {handled!r}"
        raise ValueError("operation 2")

    batches = GroupCommit(cast(Database, _Database()), max_batch=16)
    first, second = await asyncio.gather(
        batches.run("pool", refused), batches.run("pool", looks), return_exceptions=True
    )
    assert isinstance(first, Refused) and batches.fallbacks == 1
    assert isinstance(second, ValueError), second
    assert second.__context__ is None


async def test_an_operation_run_again_in_a_session_does_not_see_needs_session() -> None:
    calls: list[object] = []

    async def op(s: Any) -> object:
        calls.append(sys.exc_info()[1])
        if len(calls) == 1:
            raise NeedsSession("a session, please")
        return sys.exc_info()[1]

    batches = GroupCommit(cast(Database, _Database()), max_batch=16)
    assert await batches.run("pool", op) is None
    assert calls == [None, None] and batches.in_session == 1

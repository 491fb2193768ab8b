"""Clean-ups run in the background (后台清理): a kept transaction rolled
back, a kept connection given back to its pool.

Each runs in an empty context, so a log line of it does not carry the ids
of the request or message whose work left it behind; each is tracked, so a
stopping service waits for them (`finished`); one that fails is logged
rather than lost with its task.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from typing import Any

import structlog

log = structlog.get_logger(__name__)


class Cleanups:
    """The clean-ups of one owner (a held chain, the spare chains, the warm
    connections); `what` names them in the log line of a failure."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def start(self, cleanup: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(cleanup, context=contextvars.Context())
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.warning("background clean-up failed", what=self.what, error=repr(error))

    async def finished(self) -> None:
        """Wait for every clean-up started so far."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

"""Background clean-ups (svc_common.cleanups): each in an empty context,
waited for by `finished`, a failure logged rather than lost."""

from __future__ import annotations

import asyncio
import contextvars

import pytest
import structlog
from svc_common import cleanups as cleanups_module
from svc_common.cleanups import Cleanups
from svc_common.testing import captured_logs

_REQUEST = contextvars.ContextVar("request", default="none")


async def test_a_clean_up_runs_outside_the_context_that_started_it() -> None:
    seen: list[str] = []

    async def cleanup() -> None:
        await asyncio.sleep(0.01)
        seen.append(_REQUEST.get())

    cleanups = Cleanups("test")
    _REQUEST.set("request-1")
    cleanups.start(cleanup())
    assert len(cleanups) == 1
    await cleanups.finished()
    assert seen == ["none"] and len(cleanups) == 0


async def test_a_failed_clean_up_is_logged(monkeypatch: pytest.MonkeyPatch) -> None:
    async def cleanup() -> None:
        raise RuntimeError("the connection would not close")

    # A fresh logger: the module's keeps the configuration it was first
    # used under (cache_logger_on_first_use), which an earlier test on this
    # worker (an app that failed a clean-up) may have set before capture.
    monkeypatch.setattr(cleanups_module, "log", structlog.get_logger(cleanups_module.__name__))

    cleanups = Cleanups("kept thing given back")
    with captured_logs() as logs:
        cleanups.start(cleanup())
        await cleanups.finished()
        await asyncio.sleep(0)  # the done-callback runs after the task
    assert [(e["event"], e["what"]) for e in logs] == [
        ("background clean-up failed", "kept thing given back")
    ]
    assert "would not close" in logs[0]["error"]
